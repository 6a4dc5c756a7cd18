import json
import re
from typing import Any

import pytest

from comicocr.errors import PoisonMessage
from comicocr.messages import (
    COLLISION_ATTR,
    MAX_BODY_BYTES,
    PageMessage,
    Parsed,
    RefusedRecord,
    event_page_id,
    parse_body,
)


def record(key: str, bucket: str = "comics", event: str = "ObjectCreated:Put") -> dict[str, Any]:
    return {"eventName": event, "s3": {"bucket": {"name": bucket}, "object": {"key": key}}}


def s3_event(*keys: str, bucket: str = "comics", event: str = "ObjectCreated:Put") -> str:
    return json.dumps({"Records": [record(k, bucket, event) for k in keys]})


def sns(message: str) -> str:
    """SNS -> SQS without raw message delivery: the event is a JSON string in ``Message``."""
    return json.dumps(
        {
            "Type": "Notification",
            "MessageId": "5f4b7a8e-0000-4000-8000-000000000000",
            "TopicArn": "arn:aws:sns:us-east-1:000000000000:uploads",
            "Subject": "Amazon S3 Notification",
            "Message": message,
            "Timestamp": "2026-11-28T17:00:00.000Z",
            "SignatureVersion": "1",
        }
    )


def eventbridge(key: str, bucket: str = "comics", detail_type: str = "Object Created") -> str:
    return json.dumps(
        {
            "version": "0",
            "id": "17793124-05d4-b198-2fde-7ededc63b103",
            "detail-type": detail_type,
            "source": "aws.s3",
            "account": "000000000000",
            "time": "2026-11-28T17:00:00Z",
            "region": "us-east-1",
            "resources": [f"arn:aws:s3:::{bucket}"],
            "detail": {
                "version": "0",
                "bucket": {"name": bucket},
                "object": {"key": key, "size": 5, "etag": "b1946ac92492d2347c6235b4d2611184"},
                "reason": "PutObject",
            },
        }
    )


def ids(parsed: Parsed) -> list[tuple[str, str]]:
    return [(p.canonical_id, p.image_path) for p in parsed.pages]


def test_page_body_round_trips() -> None:
    page = PageMessage(canonical_id="S/i1/p1", image_path="/x/p1.png", method="null", lang="fr")
    assert parse_body(page.to_body()) == Parsed([page])


def test_s3_event_keys_are_unquoted_and_deduplicated() -> None:
    parsed = parse_body(
        s3_event("Series+One/issue%231/p%C3%A9ge+1.png", "Series+One/issue%231/p%C3%A9ge+1.png")
    )
    assert parsed.event
    assert ids(parsed) == [
        ("comics/Series One/issue#1/pége 1.png", "s3://comics/Series One/issue#1/pége 1.png")
    ]
    assert parsed.refused == []


def test_one_object_is_one_page_bucket_and_extension_included() -> None:
    body = json.dumps(
        {"Records": [record("coll/p9.png", "a"), record("coll/p9.jpg", "a"), record("coll/p9.png", "b")]}
    )
    assert [cid for cid, _ in ids(parse_body(body))] == ["a/coll/p9.png", "a/coll/p9.jpg", "b/coll/p9.png"]
    assert event_page_id("a", "coll/p9.png") == "a/coll/p9.png"
    assert event_page_id("a", "coll/p9.png", with_bucket=False) == "coll/p9.png"


def test_without_the_bucket_the_same_key_in_two_buckets_is_a_collision() -> None:
    body = json.dumps({"Records": [record("coll/p9.png", "a"), record("coll/p9.png", "b")]})
    parsed = parse_body(body, ids_with_bucket=False)
    assert ids(parsed) == [("coll/p9.png", "s3://a/coll/p9.png")]
    [refused] = parsed.refused
    assert refused.collision
    assert "s3://b/coll/p9.png" in refused.reason
    assert "s3://a/coll/p9.png" in refused.reason
    # re-sent alone, marked: the consumer dead-letters it with the reason instead of running it
    out = refused.to_outgoing()
    assert json.loads(out.body) == {"Records": [record("coll/p9.png", "b")]}
    assert out.attributes == {COLLISION_ATTR: refused.reason}


def test_s3_event_skips_non_images_and_other_events() -> None:
    # nothing to do, but named: the consumer logs why an upload made no page (event.ignored)
    ignored = ["s3://comics/a/p1_ocr.json", "s3://comics/a/notes .txt"]
    assert parse_body(s3_event("a/p1_ocr.json", "a/notes+.txt")) == Parsed([], event=True, ignored=ignored)
    assert parse_body(s3_event("a/p1.png", event="ObjectRemoved:Delete")) == Parsed([], event=True)
    assert parse_body(json.dumps({"Event": "s3:TestEvent", "Bucket": "b"})) == Parsed([], event=True)


def test_a_bad_record_is_refused_alone_and_the_good_ones_stay_pages() -> None:
    bad = record("../../etc/p1.png")
    body = json.dumps({"Records": [record("ok/p1.png"), bad, {"eventName": "ObjectCreated:Put"}]})
    parsed = parse_body(body)
    assert ids(parsed) == [("comics/ok/p1.png", "s3://comics/ok/p1.png")]
    assert [(r.record, r.collision) for r in parsed.refused] == [
        (bad, False),
        ({"eventName": "ObjectCreated:Put"}, False),
    ]
    assert "'../../etc/p1.png' is not a safe canonical_id" in parsed.refused[0].reason
    assert "s3.bucket.name" in parsed.refused[1].reason
    assert parsed.refused[0].to_outgoing().attributes == {}  # comes back as a one-record event
    assert parse_body(parsed.refused[0].to_outgoing().body).refused[0].reason == parsed.refused[0].reason


def test_one_record_event_with_an_unsafe_key_names_the_key() -> None:
    parsed = parse_body(s3_event("../../etc/p1.png"))
    assert parsed.pages == []
    assert [r.reason.split(":")[0] for r in parsed.refused] == [
        "S3 key '../../etc/p1.png' is not a safe canonical_id"
    ]


def test_sns_envelope_holds_the_s3_event() -> None:
    parsed = parse_body(sns(s3_event("in/Vol+1/p+2.png")))
    assert parsed.event
    assert ids(parsed) == [("comics/in/Vol 1/p 2.png", "s3://comics/in/Vol 1/p 2.png")]
    assert parse_body(sns(json.dumps({"Service": "Amazon S3", "Event": "s3:TestEvent"}))) == Parsed(
        [], event=True
    )
    with pytest.raises(PoisonMessage, match="SNS notification's 'Message' is not JSON"):
        parse_body(sns("hello"))


def test_eventbridge_object_created_is_a_page() -> None:
    parsed = parse_body(eventbridge("in/Vol+1/p+2.png", bucket="scans"))
    assert parsed.event
    assert ids(parsed) == [("scans/in/Vol 1/p 2.png", "s3://scans/in/Vol 1/p 2.png")]
    assert parse_body(eventbridge("in/p.png", detail_type="Object Deleted")) == Parsed([], event=True)
    assert parse_body(eventbridge("in/notes.txt")) == Parsed(
        [], event=True, ignored=["s3://comics/in/notes.txt"]
    )
    assert parse_body(eventbridge("in/p.png"), ids_with_bucket=False).pages[0].canonical_id == "in/p.png"
    with pytest.raises(PoisonMessage, match=r"detail\.bucket\.name"):
        parse_body(json.dumps({"source": "aws.s3", "detail-type": "Object Created", "detail": {}}))


def test_eventbridge_unsafe_key_is_poison() -> None:
    with pytest.raises(PoisonMessage, match=re.escape("'../p.png' is not a safe canonical_id")):
        parse_body(eventbridge("../p.png"))


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ("not json", "not JSON"),
        ("[1, 2]", "not a JSON object"),
        ('{"canonical_id": "a"}', "image_path"),
        ('{"canonical_id": "../a", "image_path": "x.png"}', "canonical_id"),
        ('{"canonical_id": "a", "image_path": "x.png", "surprise": 1}', "surprise"),
        ('{"Records": "nope"}', "Records"),
        ('{"Type": "Notification", "Message": 3}', "'Message' is not a string"),
    ],
)
def test_bad_bodies_are_poison_with_a_reason(body: str, why: str) -> None:
    with pytest.raises(PoisonMessage, match=why):
        parse_body(body)


def test_odd_buckets_are_refused() -> None:
    for bucket in ("a/b", "", 7):
        parsed = parse_body(json.dumps({"Records": [record("p.png", bucket)]}))  # type: ignore[arg-type]
        assert "bucket name" in parsed.refused[0].reason


def test_oversized_body_is_poison() -> None:
    with pytest.raises(PoisonMessage, match="larger than"):
        parse_body(json.dumps({"canonical_id": "a", "image_path": "x" * MAX_BODY_BYTES}))


def test_refused_record_is_a_dataclass_of_plain_data() -> None:
    r = RefusedRecord({"k": 1}, "why")
    assert json.loads(r.to_outgoing().body) == {"Records": [{"k": 1}]}


def test_a_body_nested_past_the_parser_is_poison_not_a_crash() -> None:
    with pytest.raises(PoisonMessage, match="nested too deeply"):
        parse_body("[" * 30_000 + "]" * 30_000)
    sns = json.dumps({"Type": "Notification", "Message": "[" * 30_000 + "]" * 30_000})
    with pytest.raises(PoisonMessage):
        parse_body(sns)
