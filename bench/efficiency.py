"""Efficiency: the same pages on the same cores, the raw engine in a plain process pool vs the
whole pipeline (embedded queue + Lithops localhost). Ratio = raw time / pipeline time.

    .venv/bin/python bench/efficiency.py --engines tesseract paddleocr --pages 48 --workers 2

The raw side runs exactly the worker's per-page code (read, decode, recognise, reading
order, write the result) with the engine loaded once per process, as a hand-written
multiprocessing script would. Both sides run back to back in one process, alternating.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from common import comic_pages, run, run_pipeline, settings

from comicocr.contract import Chunk, ChunkSpec, Done, EngineSpec, PageJob
from comicocr.settings import Settings
from comicocr.worker import PageReader

_reader: PageReader | None = None


def _init(chunk: Chunk) -> None:
    global _reader
    from comicocr.engines import load_engine

    engine = load_engine(chunk.spec.engine.name, {}, "en", gpu=False)
    _reader = PageReader(chunk, engine, engine.describe())


def _one(page: PageJob) -> bool:
    assert _reader is not None
    return isinstance(_reader.read(page), Done)


def raw(name: str, pages: list[Any], out: Path, workers: int) -> float:
    defaults = Settings()
    spec = ChunkSpec(
        engine=EngineSpec(name, "en"),
        output=str(out),
        direction=None,
        skip_existing=True,
        max_image_bytes=defaults.max_image_bytes,
        max_image_pixels=defaults.max_image_pixels,
        allowed_roots=(),
        allow_http=False,
    )
    jobs = [PageJob(str(i), p.canonical_id, p.image_path) for i, p in enumerate(pages)]
    started = time.perf_counter()
    with ProcessPoolExecutor(workers, initializer=_init, initargs=(Chunk(spec, ()),)) as pool:
        done = list(pool.map(_one, jobs, chunksize=max(1, len(jobs) // (workers * 4))))
    elapsed = time.perf_counter() - started
    assert all(done), done[:5]
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--engines", nargs="+", default=["tesseract", "paddleocr"])
    parser.add_argument("--pages", type=int, default=48)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2, help="raw/pipeline pairs per engine, alternating")
    parser.add_argument("--batch-size", type=int, default=None, help="default: the settings' default")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="comicocr-eff-"))
    pages = comic_pages(work / "pages", args.pages)
    print("| engine | pages | workers | raw pool s | pipeline s | ratio per round | median ratio |")
    print("|---|---|---|---|---|---|---|")
    for name in args.engines:
        raws, pipes = [], []
        for r in range(args.rounds):
            raws.append(raw(name, pages, work / f"raw-{name}-{r}", args.workers))
            extra = {"batch_size": args.batch_size} if args.batch_size else {}
            s = settings(
                f"sqlite:///{work}/{name}-{r}.sqlite3",
                work / f"pipe-{name}-{r}",
                method=name,
                workers=args.workers,
                **extra,
            )
            pipes.append(run(run_pipeline(s, pages))["total_s"])
        ratios = [a / b for a, b in zip(raws, pipes, strict=True)]
        print(
            f"| {name} | {len(pages)} | {args.workers} | {statistics.median(raws):.1f} "
            f"| {statistics.median(pipes):.1f} | {' '.join(f'{x:.3f}' for x in ratios)} "
            f"| {statistics.median(ratios):.3f} |",
            flush=True,
        )
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
