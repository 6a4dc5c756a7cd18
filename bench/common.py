"""Shared helpers for the benchmarks: generated pages, an in-process pipeline run, timing."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from PIL import Image

from comicocr import logs
from comicocr.idset import IdSet
from comicocr.lithops_adapter import LithopsDispatcher
from comicocr.messages import PageMessage
from comicocr.pipeline import Pipeline
from comicocr.samples import make_page
from comicocr.settings import Settings

os.environ.setdefault("OMP_THREAD_LIMIT", "1")
logs.configure(verbose=False)  # warnings only, on stderr: stdout is for the table


def comic_pages(
    folder: Path, n: int, distinct: int = 8, size: tuple[int, int] = (1200, 1800)
) -> list[PageMessage]:
    """``n`` pages over ``distinct`` generated images (the engine's work per page is the same)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(distinct):
        path = folder / f"src_{i}.png"
        if not path.exists():
            make_page(7000 + i, "en", *size)[0].save(path)
        paths.append(path)
    return [PageMessage(canonical_id=f"b/p{i:05d}", image_path=str(paths[i % distinct])) for i in range(n)]


def tiny_pages(folder: Path, n: int) -> list[PageMessage]:
    """``n`` pages of one 64x64 image: for measuring what the pipeline itself costs."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "tiny.png"
    Image.new("L", (64, 64), 255).save(path)
    return [PageMessage(canonical_id=f"t/p{i:05d}", image_path=str(path)) for i in range(n)]


def settings(queue: str, output: Path, **kw: Any) -> Settings:
    base: dict[str, Any] = {"queue": queue, "output": str(output), "poll_wait_s": 0.2, "workers": 2}
    return Settings(**{**base, **kw})


def wanted(pages: list[PageMessage]) -> IdSet:
    """The ids ``comicocr run`` waits for: it ends once they are settled, not after empty polls."""
    ids = IdSet()
    for page in pages:
        ids.add(page.canonical_id)
    return ids


async def run_pipeline(
    s: Settings, pages: list[PageMessage], dispatcher: LithopsDispatcher | None = None
) -> dict[str, float]:
    """Enqueue ``pages`` and consume until they are settled, as ``comicocr run`` does; return
    the phases' wall seconds. Without ``dispatcher`` the run starts its own Lithops executor,
    as ``comicocr run`` does."""
    async with Pipeline(s, dispatcher=dispatcher) as pipeline:
        t0 = time.perf_counter()
        report = await pipeline.enqueue(pages)
        t1 = time.perf_counter()
        stats = await pipeline.consume(until_idle=True, wanted=wanted(pages))
        t2 = time.perf_counter()
    assert report.sent == len(pages), report
    done = stats.outcomes["done"] + stats.outcomes["skipped"]
    assert done == len(pages), (done, stats.outcomes, stats.dead[:3])
    return {"enqueue_s": t1 - t0, "consume_s": t2 - t1, "total_s": t2 - t0}


def run(coro: Any) -> Any:
    return asyncio.run(coro)
