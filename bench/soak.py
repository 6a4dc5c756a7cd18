"""Soak: many batches of the null engine through one long-lived consumer and executor;
consumer RSS, Lithops job files, futures and threads must stay bounded.

    .venv/bin/python bench/soak.py --batches 1000 --batch-size 5

Samples are taken after a warm-up (the first tenth of the batches) and at the end.
Target: RSS growth <= 10 MB; job files, futures and threads flat.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psutil
from common import settings, tiny_pages

from comicocr.consumer import Consumer
from comicocr.engines import CATALOG
from comicocr.lithops_adapter import LithopsDispatcher, load_config
from comicocr.producer import enqueue_pages
from comicocr.queues import open_queue


def lithops_files(executor_id: str) -> int:
    """Files this executor's jobs left in Lithops' temp dir (storage, job markers, logs)."""
    from lithops.constants import LITHOPS_TEMP_DIR

    root = Path(LITHOPS_TEMP_DIR)
    return sum(1 for p in root.rglob(f"*{executor_id}*") if p.is_file()) + sum(
        1 for d in root.rglob(f"*{executor_id}*") if d.is_dir() for p in d.rglob("*") if p.is_file()
    )


def sample(dispatcher: LithopsDispatcher) -> dict[str, Any]:
    return {
        "rss_mb": psutil.Process().memory_info().rss / 2**20,
        "threads": threading.active_count(),
        "futures": len(dispatcher._fe.futures),
        "job_files": lithops_files(dispatcher._fe.executor_id),
    }


async def soak(batches: int, batch_size: int, work: Path) -> tuple[dict[str, Any], dict[str, Any], float]:
    pages = tiny_pages(work / "pages", batches * batch_size)
    s = settings(
        f"sqlite:///{work}/q.sqlite3",
        work / "out",
        method="null",
        batch_size=batch_size,
        batch_window_s=0.05,
        max_inflight_batches=2,
    )
    queue = open_queue(s.queue_address)
    await queue.ensure()
    dispatcher = LithopsDispatcher(load_config(None, workers=s.workers), s.task_timeout_s)
    consumer = Consumer(queue, dispatcher, s, engines=CATALOG)
    task = asyncio.create_task(consumer.run())
    warm = max(1, batches // 10)
    started = time.perf_counter()
    first: dict[str, Any] = {}
    try:
        for i in range(batches):
            await enqueue_pages(queue, pages[i * batch_size : (i + 1) * batch_size])
            while consumer.stats.outcomes["done"] < (i + 1) * batch_size:  # one batch at a time
                await asyncio.sleep(0.005)
            if i + 1 == warm:
                first = await asyncio.to_thread(sample, dispatcher)
        last = await asyncio.to_thread(sample, dispatcher)
    finally:
        consumer.stop()
        await task
        dispatcher.close()
        await queue.close()
    return first, last, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--batches", type=int, default=1000)
    parser.add_argument("--batch-size", type=int, default=5)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="comicocr-soak-"))
    first, last, seconds = asyncio.run(soak(args.batches, args.batch_size, work))
    print(
        f"{args.batches} batches of {args.batch_size} pages in {seconds:.0f} s "
        f"({args.batches / seconds:.1f} batches/s)"
    )
    print("| measure | after warm-up | at the end | growth |")
    print("|---|---|---|---|")
    for key in ("rss_mb", "threads", "futures", "job_files"):
        print(f"| {key} | {first[key]:.1f} | {last[key]:.1f} | {last[key] - first[key]:+.1f} |")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
