"""The VLM engine against a local OpenAI-compatible server: parsing, error mapping, secrets."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from comicocr.engines import load_engine
from comicocr.engines.vlm_json import Unparseable, parse_regions
from comicocr.errors import PermanentError, RetryableError, ThrottledError
from vlm_server import FakeVLM, ServerThread

KEY = "sk-or-v1-test-0123456789abcdef"


@pytest.mark.parametrize("mode", ["json", "fenced", "prose", "partial", "qwen"])
def test_tolerant_parsing(mode: str) -> None:
    from vlm_server import ANSWERS

    regions = parse_regions(ANSWERS[mode])
    assert regions[0]["text"] == "HELLO THERE"
    assert regions[0]["bbox"] == [10.0, 20.0, 200.0, 40.0]


def test_unparseable_and_empty_answers_raise() -> None:
    for answer in ("", "   ", "no json here", '{"nothing": 1}'):
        with pytest.raises(Unparseable):
            parse_regions(answer)
    assert parse_regions('{"regions": []}') == []


def engine(server: ServerThread, monkeypatch: pytest.MonkeyPatch, **options: object):
    monkeypatch.setenv("OPENROUTER_API_KEY", KEY)
    opts = {"base_url": server.base_url, "max_retries": 1, "max_wait_s": 0.1, "max_side": 400, **options}
    return load_engine("qwen", opts, "en", gpu=False)


def test_reads_regions_scaled_back_with_usage(monkeypatch: pytest.MonkeyPatch) -> None:
    with ServerThread(FakeVLM(api_key=KEY)) as server:
        vlm = engine(server, monkeypatch)
        found = vlm.recognize(Image.new("RGB", (800, 1200), "white"))
        sent = server.fake.bodies[0]
    regions = found.regions
    assert [r.text for r in regions] == ["HELLO THERE", "BYE NOW"]
    assert regions[0].bbox == (30, 60, 600, 120)  # the page went at 400 px high: x3 back
    assert regions[1].extra == {"bbox_estimated": True}
    assert found.usage is not None
    assert found.usage["total_tokens"] == 1020
    assert sent["model"] == "qwen/qwen2.5-vl-72b-instruct"
    assert sent["messages"][0]["content"][1]["image_url"]["url"].startswith("data:image/jpeg;base64,")


@pytest.mark.parametrize(
    ("fake", "error", "match"),
    [
        (FakeVLM(mode="garbage"), RetryableError, "no JSON"),
        (FakeVLM(mode="empty"), RetryableError, "empty answer"),
        (FakeVLM(status=500), RetryableError, "HTTP 500 after 2 tries"),
        (FakeVLM(status=400), PermanentError, "HTTP 400"),
        (FakeVLM(status=402), ThrottledError, "payment required"),
        (FakeVLM(storm=1.0), ThrottledError, "still throttled"),
    ],
)
def test_failures_keep_their_meaning_and_hide_the_key(
    fake: FakeVLM, error: type[Exception], match: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with ServerThread(fake) as server, pytest.raises(error, match=match) as caught:
        engine(server, monkeypatch).recognize(Image.new("RGB", (300, 300), "white"))
    assert KEY not in str(caught.value)
    if isinstance(caught.value, ThrottledError) and fake.status == 402:
        assert caught.value.pause == "payment_required"


def test_no_key_for_openrouter_is_permanent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENROUTER_API_KEY", raising=False)
    with pytest.raises(PermanentError, match="no API key"):
        load_engine("gemma", {}, "en", gpu=False)
