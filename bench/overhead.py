"""Overhead ceiling: the null engine over many tiny pages, so that what is measured is the
pipeline itself: queue, batching, Lithops calls, result writes, acks.

    .venv/bin/python bench/overhead.py --pages 5000                 # embedded queue only
    AWS_ENDPOINT_URL=http://127.0.0.1:4566 .venv/bin/python bench/overhead.py --pages 5000 --sqs

(the second needs LocalStack: scripts/localstack start). Pages/s are over the consume phase
(a pre-filled queue: a backfill) and over enqueue + consume.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import uuid
from pathlib import Path

from common import run, run_pipeline, settings, tiny_pages


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pages", type=int, default=5000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--max-chunk", type=int, default=250)
    parser.add_argument("--sqs", action="store_true", help="also through the SQS-compatible server")
    args = parser.parse_args()
    os.environ.setdefault("AWS_REGION", "us-east-1")
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "test")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "test")
    work = Path(tempfile.mkdtemp(prefix="comicocr-ovh-"))
    pages = tiny_pages(work / "pages", args.pages)
    queues = [("embedded (SQLite)", f"sqlite:///{work}/q.sqlite3")]
    if args.sqs:
        queues.append(("SQS (LocalStack)", f"sqs://bench-{uuid.uuid4().hex[:8]}"))
    print("| queue | pages | batch | chunk | enqueue s | consume s | consume pages/s | end-to-end pages/s |")
    print("|---|---|---|---|---|---|---|---|")
    for label, address in queues:
        s = settings(
            address,
            work / f"out-{len(label)}",
            method="null",
            workers=args.workers,
            batch_size=args.batch_size,
            max_chunk=args.max_chunk,
            batch_window_s=0.2,
            buffer_size=max(1000, 2 * args.batch_size),
            max_inflight_batches=2,
        )
        t = run(run_pipeline(s, pages))
        print(
            f"| {label} | {len(pages)} | {args.batch_size} | {args.max_chunk} | {t['enqueue_s']:.1f} "
            f"| {t['consume_s']:.1f} | {len(pages) / t['consume_s']:.0f} | {len(pages) / t['total_s']:.0f} |",
            flush=True,
        )
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
