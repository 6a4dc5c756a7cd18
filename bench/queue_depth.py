"""The embedded queue's receive and delete cost against how many messages wait in it.

    .venv/bin/python bench/queue_depth.py --depths 1000 1000000

For each depth a fresh queue file is filled (one transaction of plain inserts, as many
``enqueue`` batches would leave it), then ``--cycles`` rounds of send(10), receive(10) and
delete_batch run through the queue's own API (so the depth stays the same); the table gives the
mean milliseconds per message. The cost should not grow with the depth.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sqlite3
import tempfile
import time
import uuid
from pathlib import Path

from common import tiny_pages  # noqa: F401  (puts src/ on the path)

from comicocr.queues.base import Outgoing
from comicocr.queues.local import LocalQueue


def fill(path: Path, depth: int) -> None:
    now = time.time()
    db = sqlite3.connect(path)
    with db:
        db.executemany(
            "INSERT INTO messages (queue, id, body, attributes, visible_at, dedup, sent_at)"
            " VALUES ('main', ?, ?, '{}', ?, ?, ?)",
            (
                (
                    str(uuid.uuid4()),
                    f'{{"canonical_id": "b/p{i}", "image_path": "/x/p{i}.png"}}',
                    now,
                    f"b/p{i}",
                    now,
                )
                for i in range(depth)
            ),
        )
    db.close()


async def measure(work: Path, depth: int, cycles: int) -> tuple[float, float]:
    address = f"sqlite:///{work}/q{depth}.sqlite3"
    queue = LocalQueue(address)
    await queue.ensure()  # the schema
    await queue.close()
    fill(work / f"q{depth}.sqlite3", depth)
    queue = LocalQueue(address)
    receive_s = delete_s = 0.0
    n = 0
    for c in range(cycles):  # ten in, ten out: the depth stays where it is
        await queue.send_batch([Outgoing(f'{{"canonical_id": "c/{c}-{i}"}}') for i in range(10)])
        t0 = time.perf_counter()
        got = await queue.receive(10, 0, 900)
        t1 = time.perf_counter()
        await queue.delete_batch([m.receipt for m in got])
        receive_s += t1 - t0
        delete_s += time.perf_counter() - t1
        n += len(got)
    await queue.close()
    assert n == cycles * 10, n
    return 1000 * receive_s / n, 1000 * delete_s / n


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--depths", type=int, nargs="+", default=[1000, 1_000_000])
    parser.add_argument("--cycles", type=int, default=2000)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="comicocr-qd-"))
    print("| messages waiting | receive ms/message | delete ms/message |")
    print("|---:|---:|---:|")
    for depth in args.depths:
        receive_ms, delete_ms = asyncio.run(measure(work, depth, args.cycles))
        print(f"| {depth:,} | {receive_ms:.3f} | {delete_ms:.3f} |", flush=True)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
