"""Peak memory of ``comicocr enqueue`` and ``comicocr run`` against the manifest's size.

    .venv/bin/python bench/manifest_memory.py --rows 10000 100000 1000000 --run-rows 10000 100000

Each command runs as its own process on a generated manifest (rows ``Series/vNNN/pNNNNN``, all
pointing at one tiny image in the manifest's folder) with the embedded queue; the table gives
its peak RSS (``ru_maxrss`` of the child) and wall time. ``run`` uses the null engine, so what is
measured is the pipeline's own memory: the manifest, the per-page sets, the queue, the consumer.
The goal: under 300 MB at a million rows, and not growing with the rows.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

COMICOCR = str(Path(sys.executable).with_name("comicocr"))


def manifest(folder: Path, rows: int) -> Path:
    path = folder / f"m{rows}.csv"
    if not path.exists():
        Image.new("L", (64, 64), 255).save(folder / "tiny.png")
        with path.open("w") as out:
            out.write("canonical_id,absolute_image_path\n")
            for i in range(rows):
                out.write(f"Series/v{i // 1000:03d}/p{i:07d},tiny.png\n")
    return path


def measure(args: list[str], cwd: Path) -> tuple[float, float, int]:
    """(peak RSS MB, wall s, exit code) of one command in a child process."""
    started = time.perf_counter()
    env = {**os.environ, "COMICOCR_PROGRESS_EVERY_S": "3600"}
    with subprocess.Popen(args, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) as p:
        _, status, usage = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
    return usage.ru_maxrss / 1024, time.perf_counter() - started, p.returncode


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--run-rows", type=int, nargs="*", default=[10_000, 100_000])
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="comicocr-mem-"))
    print("| command | rows | peak RSS MB | wall s | exit |")
    print("|---|---:|---:|---:|---:|")
    for rows in args.rows:
        path = manifest(work, rows)
        queue = f"sqlite:///{work}/e{rows}.sqlite3"
        rss, wall, code = measure([COMICOCR, "enqueue", "--queue", queue, "--manifest", str(path)], work)
        print(f"| enqueue | {rows:,} | {rss:.0f} | {wall:.0f} | {code} |", flush=True)
    for rows in args.run_rows:
        path = manifest(work, rows)
        queue = f"sqlite:///{work}/r{rows}.sqlite3"
        command = [COMICOCR, "run", "--manifest", str(path), "--method", "null", "--queue", queue]
        rss, wall, code = measure([*command, "--output", str(work / f"out{rows}")], work)
        print(f"| run (null engine) | {rows:,} | {rss:.0f} | {wall:.0f} | {code} |", flush=True)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
