"""Redrive on the embedded queue: filters, engine switch, dry run, nothing lost."""

import json
from pathlib import Path

import pytest

from comicocr.consumer.acker import ATTEMPTS_ATTR
from comicocr.consumer.redrive import redrive
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
        (json.loads(m.body) | {"_attempts": m.attributes.get(ATTEMPTS_ATTR)} for m in got),
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
    assert [(b["canonical_id"], b["method"], b["_attempts"]) for b in moved] == [("B/p1", "paddleocr", "0")]
    assert (await queue.depths()).dead == 3


async def test_everything_with_a_cap(queue: LocalQueue) -> None:
    first = await redrive(queue, max_messages=3)
    assert first.moved == 3
    rest = await redrive(queue)
    assert rest.moved == 1
    assert len(await bodies(queue)) == 4
    assert (await queue.depths()).dead == 0
