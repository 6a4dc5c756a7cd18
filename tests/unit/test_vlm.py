"""The VLM engine against a local OpenAI-compatible server: parsing, error mapping, secrets."""

from __future__ import annotations

import pickle
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from comicocr.consumer.stats import Stats
from comicocr.contract import (
    Chunk,
    ChunkSpec,
    Done,
    EngineSpec,
    Failed,
    PageJob,
    Throttled,
    outcome_from_wire,
)
from comicocr.engines import load_engine
from comicocr.engines.vlm_json import Unparseable, parse_regions
from comicocr.errors import PermanentError, RetryableError, ThrottledError
from comicocr.remote import process_chunk
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
    if isinstance(caught.value, ThrottledError) and fake.storm:  # Retry-After: 1, capped at 0.1
        assert (caught.value.pause, caught.value.retry_after_s) == ("rate_limited", 0.1)


def test_a_429_that_asks_no_wait_pauses_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    with ServerThread(FakeVLM(script={"*": [429, 429]})) as server, pytest.raises(ThrottledError) as caught:
        engine(server, monkeypatch).recognize(Image.new("RGB", (300, 300), "white"))
    assert caught.value.pause is None  # Retry-After: 0 holds no consumer back


def test_no_key_for_openrouter_is_permanent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENROUTER_API_KEY", raising=False)
    with pytest.raises(PermanentError, match="no API key"):
        load_engine("gemma", {}, "en", gpu=False)


# Per page (told apart by its size): the server's replies, then how the page ends and how many
# requests it sent. Retries: 2 (3 tries a page); 429 says Retry-After: 0.
SCRIPTS: dict[str, tuple[list[int | str], type, int]] = {
    "300x300": ([500, 500, "json"], Done, 3),
    "300x301": ([500, "empty"], Failed, 2),  # an unusable answer, billed: its tokens count
    "300x302": ([500, 500, 500], Failed, 3),
    "300x303": ([429, 429, 429], Throttled, 3),
    "300x304": ([429, "garbage"], Failed, 2),
    "300x305": ([402], Throttled, 1),
    "300x306": ([400], Failed, 1),
    "300x307": ([429, "json"], Done, 2),
}


def test_every_request_counts_on_its_own_page_however_the_page_ends(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENROUTER_API_KEY", KEY)
    jobs = []
    for i, size in enumerate(SCRIPTS):
        w, h = map(int, size.split("x"))
        Image.new("RGB", (w, h), "white").save(tmp_path / f"{size}.png")
        # Paced pages, all due now: the worker reads them side by side, one engine for all.
        jobs.append(PageJob(str(i), f"s/{size}", str(tmp_path / f"{size}.png"), send_at=time.time()))
    fake = FakeVLM(script={size: list(replies) for size, (replies, _, _) in SCRIPTS.items()})
    with ServerThread(fake) as server:
        options = {"base_url": server.base_url, "max_retries": 2, "max_wait_s": 0.05, "max_side": 400}
        spec = ChunkSpec(
            engine=EngineSpec("qwen", "en", options),
            output=str(tmp_path / "out"),
            direction=None,
            skip_existing=False,
            max_image_bytes=10_000_000,
            max_image_pixels=100_000_000,
            allowed_roots=(),
            allow_http=False,
        )
        wire = pickle.loads(pickle.dumps(Chunk(spec, tuple(jobs)).to_wire()))  # as Lithops ships it
        outcomes = [outcome_from_wire(o) for o in process_chunk(wire)]
    got = {o.canonical_id.removeprefix("s/"): (type(o), o.requests) for o in outcomes}
    assert got == {size: (kind, n) for size, (_, kind, n) in SCRIPTS.items()}
    assert sum(o.requests for o in outcomes) == len(fake.log) == 17
    tokens = {
        o.canonical_id.removeprefix("s/"): (o.usage or {}).get("total_tokens")
        for o in outcomes
        if not isinstance(o, Throttled)
    }
    # Every answer counts its tokens, the unusable ones too (billed); no answer, no tokens.
    assert tokens == {
        "300x300": 1020,
        "300x301": 1020,
        "300x302": None,
        "300x304": 1020,
        "300x306": None,
        "300x307": 1020,
    }
    stats = Stats()
    for outcome in outcomes:
        stats.count_usage(outcome)
    assert (stats.vlm_requests, stats.vlm_answered) == (17, 2)
    assert stats.vlm_tokens == 1020 * fake.count(200) == 1020 * 4  # the two unusable answers too
