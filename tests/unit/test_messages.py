import json

import pytest

from comicocr.errors import PoisonMessage
from comicocr.messages import MAX_BODY_BYTES, PageMessage, parse_body


def s3_event(*keys: str, bucket: str = "comics", event: str = "ObjectCreated:Put") -> str:
    records = [{"eventName": event, "s3": {"bucket": {"name": bucket}, "object": {"key": k}}} for k in keys]
    return json.dumps({"Records": records})


def test_page_body_round_trips() -> None:
    page = PageMessage(canonical_id="S/i1/p1", image_path="/x/p1.png", method="null", lang="fr")
    assert parse_body(page.to_body()) == [page]


def test_s3_event_keys_are_unquoted_and_deduplicated() -> None:
    pages = parse_body(
        s3_event("Series+One/issue%231/p%C3%A9ge+1.png", "Series+One/issue%231/p%C3%A9ge+1.png")
    )
    assert len(pages) == 1
    assert pages[0].canonical_id == "Series One/issue#1/pége 1"
    assert pages[0].image_path == "s3://comics/Series One/issue#1/pége 1.png"


def test_s3_event_skips_non_images_and_other_events() -> None:
    body = s3_event("a/p1_ocr.json", "a/notes.txt")
    assert parse_body(body) == []
    assert parse_body(s3_event("a/p1.png", event="ObjectRemoved:Delete")) == []
    assert parse_body(json.dumps({"Event": "s3:TestEvent", "Bucket": "b"})) == []


def test_s3_event_with_unsafe_key_is_poison() -> None:
    with pytest.raises(PoisonMessage, match="canonical_id"):
        parse_body(s3_event("../../etc/p1.png"))


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ("not json", "not JSON"),
        ("[1, 2]", "not a JSON object"),
        ('{"canonical_id": "a"}', "image_path"),
        ('{"canonical_id": "../a", "image_path": "x.png"}', "canonical_id"),
        ('{"canonical_id": "a", "image_path": "x.png", "surprise": 1}', "surprise"),
        ('{"Records": "nope"}', "Records"),
        ('{"Records": [{"eventName": "ObjectCreated:Put"}]}', "s3.bucket.name"),
    ],
)
def test_bad_bodies_are_poison_with_a_reason(body: str, why: str) -> None:
    with pytest.raises(PoisonMessage, match=why):
        parse_body(body)


def test_oversized_body_is_poison() -> None:
    with pytest.raises(PoisonMessage, match="larger than"):
        parse_body(json.dumps({"canonical_id": "a", "image_path": "x" * MAX_BODY_BYTES}))
