"""Overhead ceiling: the null engine over many tiny pages, so that what is measured is the
pipeline itself: queue, batching, Lithops calls, result writes, acks. Default settings, as
``comicocr run`` has them with no flags.

    .venv/bin/python bench/overhead.py                       # embedded queue, 500 and 5,500 pages
    AWS_ENDPOINT_URL=http://127.0.0.1:4566 .venv/bin/python bench/overhead.py --sqs

(the second needs LocalStack: scripts/localstack start). For each queue, a small and a large
backfill run one after the other in one process; the *marginal* rate is the extra pages over
the extra seconds between them, so start-up costs (the first Lithops job, opening the queue)
cancel out. ``consumer ms/page`` is the consumer process's own CPU (user + system, all its
threads, none of its Lithops worker processes) over the consume phase, per page: what one
consumer core pays to keep workers fed. ``--batch-size``/``--max-chunk`` override the defaults.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from common import run, tiny_pages, wanted

from comicocr.messages import PageMessage
from comicocr.pipeline import Pipeline
from comicocr.settings import Settings


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)  # this process, every thread; no children
    return usage.ru_utime + usage.ru_stime


async def _backfill(s: Settings, pages: list[PageMessage]) -> dict[str, float]:
    async with Pipeline(s) as pipeline:
        t0 = time.perf_counter()
        report = await pipeline.enqueue(pages)
        t1, cpu = time.perf_counter(), _cpu_s()
        stats = await pipeline.consume(until_idle=True, wanted=wanted(pages))  # as `run` does
        t2, cpu = time.perf_counter(), _cpu_s() - cpu
    assert report.sent == len(pages), report
    assert stats.settled_well == len(pages), (stats.outcomes, stats.dead[:3])
    return {"enqueue_s": t1 - t0, "consume_s": t2 - t1, "cpu_ms_per_page": 1000 * cpu / len(pages)}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pages", type=int, nargs=2, default=[500, 5500], metavar=("SMALL", "LARGE"))
    parser.add_argument("--sqs", action="store_true", help="also through the SQS-compatible server")
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--max-chunk", type=int, default=None)
    args = parser.parse_args()
    os.environ.setdefault("AWS_REGION", "us-east-1")
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "test")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "test")
    work = Path(tempfile.mkdtemp(prefix="comicocr-ovh-"))
    overrides: dict[str, Any] = {}
    if args.batch_size:
        overrides["batch_size"] = args.batch_size
    if args.max_chunk:
        overrides["max_chunk"] = args.max_chunk
    queues = [("embedded (SQLite)", lambda n: f"sqlite:///{work}/q{n}.sqlite3")]
    if args.sqs:
        queues.append(("SQS (LocalStack)", lambda n: f"sqs://bench-{uuid.uuid4().hex[:8]}"))
    flags = " ".join(f"--{k.replace('_', '-')} {v}" for k, v in overrides.items()) or "defaults"
    print("| queue | settings | pages | consume s | consume pages/s | consumer ms/page | marginal pages/s |")
    print("|---|---|---|---|---|---|---|")
    for label, address in queues:
        rows = []
        for n in args.pages:
            pages = tiny_pages(work / "pages", n)
            s = Settings(queue=address(n), output=str(work / f"out-{uuid.uuid4().hex[:6]}"), method="null")
            s = s.model_copy(update=overrides)
            rows.append((n, run(_backfill(s, pages))))
        (n1, a), (n2, b) = rows
        marginal = (n2 - n1) / max(1e-9, b["consume_s"] - a["consume_s"])
        for n, t in rows:
            print(
                f"| {label} | {flags} | {n} | {t['consume_s']:.1f} | {n / t['consume_s']:.0f} "
                f"| {t['cpu_ms_per_page']:.2f} | {marginal:.0f} |",
                flush=True,
            )
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
