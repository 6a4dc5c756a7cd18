"""Redrive against the real server: StartMessageMoveTask for the whole DLQ, receive-send-delete
with filters or another engine, and the redriven pages then succeed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from comicocr.consumer import Consumer
from comicocr.consumer.redrive import redrive
from comicocr.engines import CATALOG
from comicocr.lithops_adapter import LithopsDispatcher
from comicocr.queues.base import Outgoing
from comicocr.queues.sqs import SQSQueue
from comicocr.settings import Settings

pytestmark = pytest.mark.integration


async def dead_letter(queue: SQSQueue, pages: list[tuple[str, str, str]]) -> None:
    await queue.dead_letters.send_batch(
        [
            Outgoing(
                json.dumps({"canonical_id": cid, "image_path": path, "method": "fault_crash"}),
                {"comicocr-error-class": cls, "comicocr-error": "boom", "comicocr-attempts": "3"},
            )
            for cid, path, cls in pages
        ]
    )


async def test_whole_dlq_moves_with_the_servers_move_task(queue_address: str, sample_pages: Path) -> None:
    queue = SQSQueue(queue_address)
    await queue.ensure()
    image = str(sample_pages / "page_001.png")
    await dead_letter(queue, [(f"p{i}", image, "retries_exhausted") for i in range(5)])
    report = await redrive(queue)
    assert (report.via, report.moved) == ("StartMessageMoveTask", 5)
    depths = await queue.depths()
    assert (depths.visible, depths.dead) == (5, 0)
    await queue.close()


async def test_filtered_redrive_with_another_engine_then_succeeds(
    queue_address: str, dispatcher: LithopsDispatcher, sample_pages: Path, tmp_path: Path
) -> None:
    queue = SQSQueue(queue_address)
    await queue.ensure()
    image = str(sample_pages / "page_001.png")
    await dead_letter(
        queue,
        [
            ("keep/p1", image, "permanent"),
            ("retry/p1", image, "retries_exhausted"),
            ("retry/p2", image, "retries_exhausted"),
        ],
    )
    dry = await redrive(queue, id_prefix="retry/", dry_run=True)
    assert sorted(i.canonical_id for i in dry.listed) == ["retry/p1", "retry/p2"]
    report = await redrive(queue, id_prefix="retry/", error_classes={"retries_exhausted"}, method="null")
    assert (report.via, report.moved) == ("receive-send-delete", 2)
    s = Settings(queue=queue_address, output=str(tmp_path), workers=2, batch_window_s=0.3, poll_wait_s=1)
    stats = await Consumer(queue, dispatcher, s, engines=CATALOG, until_idle=True).run()
    assert stats.outcomes["done"] == 2
    assert sorted(p.name for p in (tmp_path / "retry").iterdir()) == ["p1_ocr.json", "p2_ocr.json"]
    assert json.loads((tmp_path / "retry" / "p1_ocr.json").read_text())["ocr_method"] == "null"
    left = await queue.dead_letters.receive(10, 0, 30)
    assert [json.loads(m.body)["canonical_id"] for m in left] == ["keep/p1"]
    await queue.close()
