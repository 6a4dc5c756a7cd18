"""Redrive on the embedded queue: filters, engine switch, dry run, nothing lost."""

import json
from pathlib import Path

import pytest

from comicocr.consumer.acker import ATTEMPTS_ATTR, attempts_of
from comicocr.consumer.redrive import redrive
from comicocr.errors import ConfigError
from comicocr.queues.base import Outgoing
from comicocr.queues.local import LocalQueue


@pytest.fixture
async def queue(tmp_path: Path):
    q = LocalQueue(f"sqlite:///{tmp_path}/q.sqlite3")
    await q.ensure()
    letters = [
        ("A/p1", "permanent"),
        ("A/p2", "retries_exhausted"),
        ("B/p1", "retries_exhausted"),
        ("B/p2", "poison"),
    ]
    await q.dead_letters.send_batch(
        [
            Outgoing(
                json.dumps({"canonical_id": cid, "image_path": f"/x/{cid}.png"}),
                {"comicocr-error-class": cls, "comicocr-error": "boom", ATTEMPTS_ATTR: "3"},
            )
            for cid, cls in letters
        ]
    )
    yield q
    await q.close()


async def bodies(queue: LocalQueue) -> list[dict]:
    got = await queue.receive(10, 0, 30)
    return sorted(
        (json.loads(m.body) | {"_attempts": attempts_of(m), "_attrs": m.attributes} for m in got),
        key=lambda b: b["canonical_id"],
    )


async def test_dry_run_lists_and_moves_nothing(queue: LocalQueue) -> None:
    report = await redrive(queue, error_classes={"retries_exhausted"}, dry_run=True)
    assert sorted(i.canonical_id for i in report.listed) == ["A/p2", "B/p1"]
    assert report.moved == 0
    depths = await queue.depths()
    assert (depths.visible, depths.dead) == (0, 4)
    assert len(await queue.dead_letters.receive(10, 0, 30)) == 4  # all handed back, visible


async def test_filters_and_engine_switch(queue: LocalQueue) -> None:
    report = await redrive(queue, error_classes={"retries_exhausted"}, id_prefix="B/", method="paddleocr")
    assert report.moved == 1
    moved = await bodies(queue)
    assert [(b["canonical_id"], b["method"], b["_attempts"]) for b in moved] == [("B/p1", "paddleocr", 0)]
    # The attributes stay as the DLQ wrote them, as the server's move task keeps them: the
    # consumer counts from zero because they are there.
    assert moved[0]["_attrs"][ATTEMPTS_ATTR] == "3"
    assert (await queue.depths()).dead == 3


async def test_everything_with_a_cap(queue: LocalQueue) -> None:
    first = await redrive(queue, max_messages=3)
    assert first.moved == 3
    rest = await redrive(queue)
    assert rest.moved == 1
    assert len(await bodies(queue)) == 4
    assert (await queue.depths()).dead == 0


async def test_another_engine_keeps_only_the_options_it_takes(tmp_path: Path) -> None:
    q = LocalQueue(f"sqlite:///{tmp_path}/q.sqlite3")
    await q.ensure()
    body = {"image_path": "/x.png", "method": "tesseract", "options": {"psm": 11, "min_confidence": 0.4}}
    await q.dead_letters.send_batch(
        [
            Outgoing(json.dumps({"canonical_id": c, **body}), {"comicocr-error-class": "permanent"})
            for c in "ab"
        ]
        + [Outgoing("{not json", {"comicocr-error-class": "poison"})]
    )
    report = await redrive(q, method="paddleocr")
    assert (report.moved, dict(report.dropped_options)) == (3, {"psm": 2})
    got = await q.receive(10, 0, 30)
    assert "{not json" in [m.body for m in got]  # a poison body goes back as it was
    pages = [json.loads(m.body) for m in got if m.body != "{not json"]
    assert [(p["method"], p["options"]) for p in pages] == [("paddleocr", {"min_confidence": 0.4})] * 2
    await q.close()


async def test_options_replace_the_pages_own(queue: LocalQueue) -> None:
    report = await redrive(queue, id_prefix="A/", method="tesseract", options={"psm": 6})
    assert (report.moved, report.dropped_options) == (2, {})
    assert [(b["method"], b["options"]) for b in await bodies(queue)] == [("tesseract", {"psm": 6})] * 2


@pytest.mark.parametrize(
    ("method", "options", "says"),
    [
        ("null", {"seconds": 1}, "bad --options for engine 'null': seconds: Extra inputs"),
        ("easyocr", {"model_dir": "/m"}, "only the consumer's operator may set for 'easyocr': model_dir"),
        ("nosuchengine", None, "unknown OCR method"),
    ],
)
async def test_what_cannot_be_asked_is_refused_and_nothing_moves(
    queue: LocalQueue, method: str, options: dict[str, object] | None, says: str
) -> None:
    with pytest.raises(ConfigError, match=says):
        await redrive(queue, method=method, options=options)
    assert (await queue.depths()).dead == 4


async def test_max_caps_a_dry_run_across_receives(tmp_path: Path) -> None:
    q = LocalQueue(f"sqlite:///{tmp_path}/q.sqlite3")
    await q.ensure()
    for first in (0, 10):  # twelve dead letters: two receives' worth
        await q.dead_letters.send_batch(
            [
                Outgoing(json.dumps({"canonical_id": f"p{i}", "image_path": "/x.png"}))
                for i in range(first, first + 6)
            ]
        )
    dry = await redrive(q, dry_run=True, max_messages=2)
    assert (len(dry.listed), dry.moved, (await q.depths()).dead) == (2, 0, 12)
    moved = await redrive(q, max_messages=11)
    assert (moved.moved, len(moved.listed), (await q.depths()).dead) == (11, 11, 1)
    await q.close()
