"""Engines that crash, are OOM-killed or hang, on the real Lithops localhost executor: the page is
retried, then dead-lettered with the reason; healthy pages in the same batch are not harmed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from comicocr.consumer import Consumer
from comicocr.engines import CATALOG
from comicocr.messages import PageMessage
from comicocr.producer import enqueue_pages
from comicocr.queues.sqs import SQSQueue
from comicocr.settings import Settings

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    ("engine", "reason"),
    [
        ("fault_crash", "Lithops call failed"),
        ("fault_oom", "Lithops call failed: MemoryError"),
        ("fault_hang", "Lithops call failed: TimeoutError"),
    ],
)
async def test_fault_is_retried_then_dead_lettered_alone(
    engine: str, reason: str, queue_address: str, sample_pages: Path, tmp_path: Path
) -> None:
    from comicocr.lithops_adapter import LithopsDispatcher, load_config

    image = str(sample_pages / "page_001.png")
    pages = [PageMessage(canonical_id=f"ok{i}", image_path=image, method="null") for i in range(3)]
    pages.append(PageMessage(canonical_id="victim", image_path=image, method=engine))
    queue = SQSQueue(queue_address, visibility_s=60)
    await queue.ensure()
    await enqueue_pages(queue, pages)
    s = Settings(
        queue=queue_address,
        output=str(tmp_path),
        workers=2,
        batch_window_s=0.3,
        poll_wait_s=1,
        max_attempts=2,
        backoff_base_s=0,
        task_timeout_s=4,
        visibility_timeout_s=60,
    )
    dispatcher = LithopsDispatcher(load_config(None, workers=2), task_timeout_s=s.task_timeout_s)
    try:
        stats: Any = await Consumer(queue, dispatcher, s, engines=CATALOG, until_idle=True).run()
    finally:
        dispatcher.close()
    assert stats.outcomes["done"] == 3
    assert stats.outcomes["retry"] == 1
    assert [(i, c) for i, c, _ in stats.dead] == [("victim", "retries_exhausted")]
    assert reason in stats.dead[0][2]
    dead = await queue.dead_letters.receive(10, 0, 30)
    assert json.loads(dead[0].body)["canonical_id"] == "victim"
    assert dead[0].attributes["comicocr-attempts"] == "2"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ok0_ocr.json", "ok1_ocr.json", "ok2_ocr.json"]
    await queue.close()
