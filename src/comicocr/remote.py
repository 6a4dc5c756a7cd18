"""The one function Lithops ships to workers: a chunk of pages in, one outcome per page out.

Plain data in, plain data out, so any Lithops backend can run it. It never raises
for a single page: each page's exception becomes an outcome with its error class,
so one bad page never fails its chunk. The engine is loaded once for the chunk.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from comicocr import images, layout, results, storage
from comicocr.engines.base import Engine, load_engine
from comicocr.errors import ConfigError, ErrorClass, PageError, ThrottledError
from comicocr.redact import redact

MAX_ERROR_CHARS = 500


def _outcome(page: dict[str, Any], status: str, **extra: Any) -> dict[str, Any]:
    return {"key": page["key"], "canonical_id": page["canonical_id"], "status": status, **extra}


def _error(page: dict[str, Any], error_class: ErrorClass, message: str) -> dict[str, Any]:
    return _outcome(page, "error", error_class=str(error_class), error=message[:MAX_ERROR_CHARS])


def chunk_failed(pages: list[dict[str, Any]], error: str) -> list[dict[str, Any]]:
    """Outcomes for a call that died as a whole (crash, OOM kill, timeout): every page is
    retryable, and ``chunk_failed`` says no single page is known to be at fault."""
    return [{**_error(p, ErrorClass.RETRYABLE, error), "chunk_failed": True} for p in pages]


def process_chunk(chunk: dict[str, Any]) -> list[dict[str, Any]]:
    """OCR every page of ``chunk`` and write each result; return an outcome per page.

    ``chunk`` = ``{"engine": {"name", "options", "lang", "gpu"}, "direction",
    "output", "skip_existing", "max_image_bytes", "max_image_pixels", "allowed_roots", "allow_http",
    "pages": [{"key", "canonical_id", "image_path"}]}``.
    """
    os.environ.setdefault("OMP_THREAD_LIMIT", "1")  # one thread per worker process
    spec = chunk["engine"]
    pages: list[dict[str, Any]] = chunk["pages"]
    try:
        engine = load_engine(spec["name"], spec.get("options") or {}, spec["lang"], spec.get("gpu", False))
        engine_info = engine.describe()
    except (PageError, ConfigError, ImportError) as exc:
        error_class = exc.error_class if isinstance(exc, PageError) else ErrorClass.PERMANENT
        return [_error(p, error_class, f"engine {spec['name']!r} unavailable: {exc}") for p in pages]
    if chunk.get("send_at"):
        # Paced VLM pages: each request waits for the slot the consumer booked for it, and
        # the pages of the chunk wait on the network side by side, one thread each.
        def paced(args: tuple[dict[str, Any], float]) -> dict[str, Any]:
            time.sleep(max(0.0, args[1] - time.time()))
            return _process_page(args[0], chunk, engine, engine_info)

        with ThreadPoolExecutor(max_workers=len(pages)) as pool:
            return list(pool.map(paced, zip(pages, chunk["send_at"], strict=True)))
    return [_process_page(page, chunk, engine, engine_info) for page in pages]


def _process_page(
    page: dict[str, Any], chunk: dict[str, Any], engine: Engine, engine_info: dict[str, str]
) -> dict[str, Any]:
    started = time.perf_counter()
    spec = chunk["engine"]
    try:
        location = storage.result_location(chunk["output"], page["canonical_id"])
        if chunk.get("skip_existing") and storage.exists(location):
            return _outcome(page, "skipped", result=location)
        storage.check_allowed(
            page["image_path"], chunk.get("allowed_roots") or [], chunk.get("allow_http", False)
        )
        data = storage.read_bytes(page["image_path"], chunk["max_image_bytes"])
        image = images.decode(data, chunk.get("max_image_pixels") or images.MAX_PIXELS)
        direction = chunk.get("direction") or layout.default_direction(spec["lang"])
        found = engine.recognize(image)
        if getattr(engine, "keeps_order", False):  # a VLM answers in reading order already
            regions = found
        else:
            regions = layout.order_page(image, found, direction)
        extras: dict[str, Any] = engine.page_extras() if hasattr(engine, "page_extras") else {}
        duration = time.perf_counter() - started
        result = results.build_result(
            canonical_id=page["canonical_id"],
            source_image_path=page["image_path"],
            method=spec["name"],
            engine_info=engine_info,
            regions=regions,
            image_bytes=data,
            width=image.width,
            height=image.height,
            lang=spec["lang"],
            direction=direction,
            duration_s=duration,
        )
        result.update(extras)
        if not storage.write_atomic(
            location, results.encode(result), overwrite=not chunk.get("skip_existing")
        ):
            return _outcome(page, "skipped", result=location)  # a racing delivery wrote it first
    except ThrottledError as exc:  # not the page's fault: retried later, no attempt counted
        outcome = _error(page, exc.error_class, redact(str(exc)))
        return {**outcome, "throttled": True, "retry_after_s": exc.retry_after_s, "pause": exc.pause}
    except PageError as exc:
        return _error(page, exc.error_class, redact(str(exc)))
    except MemoryError:
        return _error(page, ErrorClass.RETRYABLE, "out of memory while processing the page")
    except Exception as exc:  # an engine bug on one page must not fail the chunk
        return _error(page, ErrorClass.RETRYABLE, redact(f"{type(exc).__name__}: {exc}"))
    return _outcome(
        page, "done", result=location, num_regions=len(regions), duration_s=round(duration, 3), **extras
    )
