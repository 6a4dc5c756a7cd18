"""Cost model: measure each engine's CPU-s per page and peak RSS (each in a fresh process),
and the CPU-s of loading it (paid once per Lithops call), then price 1,000 pages on AWS Lambda
and time a run on N workers with comicocr.estimate.

    .venv/bin/python bench/cost.py --engines null tesseract paddleocr easyocr --pages 4 --workers 100

The measured figures are what src/comicocr/estimate.py's PROFILES should hold.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))


def measure_one(engine_name: str, pages: int) -> None:
    os.environ.setdefault("OMP_THREAD_LIMIT", "1")
    from comicocr import layout
    from comicocr.engines import load_engine
    from comicocr.samples import make_page

    def cpu() -> float:
        me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime

    loading = cpu()
    engine = load_engine(engine_name, {}, "en", gpu=False)  # what each Lithops call pays once
    load_s = cpu() - loading
    images = [make_page(8000 + i, "en", 1600, 2400)[0] for i in range(pages)]
    started = cpu()
    for image in images:
        layout.order_page(image, engine.recognize(image).regions, "ltr")
    per_page = (cpu() - started) / pages
    rss_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(json.dumps({"cpu_s": per_page, "rss_gb": rss_gb, "load_s": load_s}))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--engines", nargs="+", default=["null", "tesseract", "paddleocr", "easyocr"])
    parser.add_argument("--pages", type=int, default=4)
    parser.add_argument("--workers", type=int, default=100)
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        measure_one(args.one, args.pages)
        return
    from comicocr import estimate

    print(
        "| engine | CPU-s/page | load CPU-s | peak RSS GB | Lambda GB | $ per 1,000 pages"
        f" | 100k pages on {args.workers} workers |"
    )
    print("|---|---|---|---|---|---|---|")
    for name in args.engines:
        out = subprocess.run(
            [sys.executable, __file__, "--one", name, "--pages", str(args.pages)],
            capture_output=True,
            text=True,
            check=True,
        )
        m = json.loads(out.stdout.strip().splitlines()[-1])
        estimate.PROFILES[name] = replace(
            estimate.PROFILES.get(name, estimate.Profile(0, 0)),
            cpu_s_per_page=m["cpu_s"],
            peak_memory_gb=m["rss_gb"],
            load_s=m["load_s"],
        )
        e = estimate.estimate(100_000, name, args.workers)
        print(
            f"| {name} | {m['cpu_s']:.2f} | {m['load_s']:.2f} | {m['rss_gb']:.2f} | {e.lambda_memory_gb:.2f} "
            f"| {e.usd_per_1000_pages:.3f} | {e.wall_s / 60:.0f} min |",
            flush=True,
        )


if __name__ == "__main__":
    main()
