"""Latency: an idle consumer fed one page at a time; time from enqueue to the result file.

    .venv/bin/python bench/latency.py --samples 50 --method null --window 2.0

Target: p50 <= batch window + engine time + 0.5 s.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from common import comic_pages, settings, tiny_pages

from comicocr.consumer import Consumer
from comicocr.engines import CATALOG
from comicocr.lithops_adapter import LithopsDispatcher, load_config
from comicocr.producer import enqueue_pages
from comicocr.queues import open_queue
from comicocr.storage import result_location


async def measure(samples: int, method: str, window: float, work: Path) -> list[float]:
    pages = (tiny_pages if method == "null" else comic_pages)(work / "pages", samples)
    s = settings(
        f"sqlite:///{work}/q.sqlite3", work / "out", method=method, batch_window_s=window, poll_wait_s=20
    )
    queue = open_queue(s.queue_address)
    await queue.ensure()
    dispatcher = LithopsDispatcher(load_config(None, workers=s.workers), s.task_timeout_s)
    consumer = Consumer(queue, dispatcher, s, engines=CATALOG)
    task = asyncio.create_task(consumer.run())
    latencies = []
    try:
        for page in pages:
            target = Path(result_location(s.output, page.canonical_id))
            started = time.perf_counter()
            await enqueue_pages(queue, [page])
            while not target.exists():
                await asyncio.sleep(0.005)
            latencies.append(time.perf_counter() - started)
            await asyncio.sleep(0.1)
    finally:
        consumer.stop()
        await task
        dispatcher.close()
        await queue.close()
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--samples", type=int, default=50)
    parser.add_argument("--method", default="null")
    parser.add_argument("--window", type=float, nargs="+", default=[2.0, 0.5])
    args = parser.parse_args()
    print("| method | batch window s | samples | p50 s | p95 s | max s |")
    print("|---|---|---|---|---|---|")
    for window in args.window:
        work = Path(tempfile.mkdtemp(prefix="comicocr-lat-"))
        lat = sorted(asyncio.run(measure(args.samples, args.method, window, work)))
        p95 = lat[min(len(lat) - 1, int(0.95 * len(lat)))]
        print(
            f"| {args.method} | {window} | {len(lat)} | {statistics.median(lat):.2f} | {p95:.2f} "
            f"| {lat[-1]:.2f} |",
            flush=True,
        )
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
