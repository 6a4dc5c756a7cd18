"""The GPU path: pages/s of paddleocr (onnxruntime's CUDA provider) and easyocr (torch CUDA) on
one GPU, beside their CPU reading of the same pages.

    .venv/bin/python bench/gpu.py --pages 64 --engines paddleocr easyocr [--cpu-check 4]

Run it on a machine with a GPU (the ``device`` tool, when the task is lent one). Each engine
is loaded once with ``gpu=True`` and must say it runs on the GPU (otherwise the row says so and
the figures are the CPU's). Two ways are timed on the same generated 1600x2400 pages:

- ``per page``: the engine's own ``recognize()``, one page after another (what a worker does);
- ``batched`` (paddleocr only): detection page by page, then recognition of the text lines of
  *all* pages in batches of ``--rec-batch`` (a GPU is only busy with many lines at once).

``--cpu-check N``: the first N pages are also read on the CPU, per page; the row says whether
every line of text is the same, or how many differ (the GPU must not change what is read; the
batched way pads lines to other widths, which on the CPU already moved one space in 3 pages).
Goal: >= 10 pages/s per GPU.
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from typing import Any

from common import comic_pages  # noqa: F401  (puts src/ on the path)
from PIL import Image

from comicocr.engines import load_engine
from comicocr.samples import make_page


def pages_of(n: int) -> list[Image.Image]:
    distinct = [make_page(7000 + i, "en", 1600, 2400)[0] for i in range(min(n, 8))]
    return [distinct[i % len(distinct)] for i in range(n)]


def texts(engine: Any, pages: list[Image.Image]) -> list[list[str]]:
    return [[r.text for r in engine.recognize(p).regions] for p in pages]


def paddle_batched(engine: Any, pages: list[Image.Image], rec_batch: int) -> list[list[str]]:
    """Detection per page, then one recognition pass over the lines of every page."""
    import numpy as np

    pipeline = engine._ocr.paddlex_pipeline
    inner = getattr(pipeline, "_pipeline", pipeline)
    inner.text_rec_model.batch_sampler.batch_size = rec_batch
    arrays = [np.ascontiguousarray(np.asarray(p.convert("RGB"))[:, :, ::-1]) for p in pages]
    crops: list[Any] = []
    owners: list[int] = []
    # as the engine detects a page: shrunk to det_max_side on the long side (1600x2400 pages)
    # and with the pipeline's own thresholds, not the detection model's defaults
    params = {
        "thresh": inner.text_det_thresh,
        "box_thresh": inner.text_det_box_thresh,
        "unclip_ratio": inner.text_det_unclip_ratio,
        "max_side_limit": inner.text_det_max_side_limit,
    }
    if engine.options.det_max_side:
        params.update(limit_side_len=engine.options.det_max_side, limit_type="max")
    detected = inner.text_det_model(arrays, **params)
    for n, (array, det) in enumerate(zip(arrays, detected, strict=True)):
        for crop in inner._crop_by_polys(array, det["dt_polys"]):
            if crop.size:
                crops.append(crop)
                owners.append(n)
    order = sorted(range(len(crops)), key=lambda i: crops[i].shape[1] / crops[i].shape[0])
    out: list[list[str]] = [[] for _ in pages]
    for i, res in zip(order, inner.text_rec_model([crops[i] for i in order]), strict=True):
        if res["rec_score"] >= engine.options.min_confidence and str(res["rec_text"]).strip():
            out[owners[i]].append(str(res["rec_text"]).strip())
    return out


def timed(fn: Any) -> tuple[float, Any]:
    started = time.perf_counter()
    out = fn()
    return time.perf_counter() - started, out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pages", type=int, default=64)
    parser.add_argument("--engines", nargs="+", default=["paddleocr", "easyocr"])
    parser.add_argument("--rec-batch", type=int, default=64)
    parser.add_argument("--cpu-check", type=int, default=4)
    args = parser.parse_args()
    pages = pages_of(args.pages)
    print("| engine | device | way | pages | s | pages/s | same text as CPU |")
    print("|---|---|---|---:|---:|---:|---|")
    for name in args.engines:
        try:
            gpu = load_engine(name, {}, "en", True)
        except Exception as exc:
            print(f"| {name} | - | - | - | - | - | not loaded: {type(exc).__name__}: {str(exc)[:80]} |")
            continue
        device = gpu.describe().get("device", "?")
        cpu_texts = None
        if args.cpu_check:
            cpu_texts = texts(load_engine(name, {}, "en", False), pages[: args.cpu_check])
        texts(gpu, pages[:2])  # warm-up: CUDA kernels, memory pools
        ways: list[tuple[str, Any]] = [("per page", lambda e=gpu: texts(e, pages))]
        if name == "paddleocr":
            ways.append(("batched", lambda e=gpu: paddle_batched(e, pages, args.rec_batch)))
        for way, run in ways:
            seconds, got = timed(run)
            if cpu_texts is None:
                same = "-"
            else:
                # The batched way reads lines in another order: compare the lines as multisets.
                # Recognition batched across pages pads lines to other widths, which may move a
                # space ("IT I" / "ITI" measured on the CPU): count the lines that differ.
                pairs = list(zip(got[: args.cpu_check], cpu_texts, strict=True))
                differ = sum(len(Counter(b) - Counter(a)) for a, b in pairs)
                total = sum(len(b) for _, b in pairs)
                same = "yes" if differ == 0 else f"{differ} of {total} lines differ"
            print(
                f"| {name} | {device} | {way} | {len(pages)} | {seconds:.1f} | {len(pages) / seconds:.1f} "
                f"| {same} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
