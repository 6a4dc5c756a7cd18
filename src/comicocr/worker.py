"""What a worker does with a chunk: load the engine once, then read, OCR, order and write each page.

It never raises for a single page: each page's exception becomes a ``Failed`` outcome with
its error class, so one bad page never fails its chunk. Runs inside Lithops workers
(``remote.process_chunk`` calls it), or in-process in tests and benchmarks.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from comicocr import archives, furigana, images, layout, results, storage
from comicocr.contract import Chunk, Done, Outcome, PageJob, Region, Skipped, Throttled, failed
from comicocr.engines.base import Engine, Meter, load_engine, metered
from comicocr.errors import ConfigError, ErrorClass, PageError, ThrottledError
from comicocr.redact import redact


def run_chunk(chunk: Chunk) -> list[Outcome]:
    """OCR every page of ``chunk`` and write each result; return an outcome per page."""
    # One thread per worker process: the pipeline parallelises, and 2 workers x 2 OpenMP
    # threads (Tesseract) ran 5x slower than 2 x 1. A value the operator set stays.
    os.environ.setdefault("OMP_THREAD_LIMIT", "1")
    wanted = chunk.spec.engine
    try:
        engine = load_engine(wanted.name, wanted.options, wanted.lang, wanted.gpu)
        engine_info = engine.describe()
    except (PageError, ConfigError, ImportError) as exc:
        error_class = exc.error_class if isinstance(exc, PageError) else ErrorClass.PERMANENT
        return [failed(p, error_class, f"engine {wanted.name!r} unavailable: {exc}") for p in chunk.pages]
    reader = PageReader(chunk, engine, engine_info)
    if any(p.send_at is not None for p in chunk.pages):
        # Paced VLM pages: each request waits for the slot the consumer booked for it, and
        # the pages of the chunk wait on the network side by side, one thread each.
        def paced(page: PageJob) -> Outcome:
            time.sleep(max(0.0, (page.send_at or 0.0) - time.time()))
            return reader.read(page)

        with ThreadPoolExecutor(max_workers=len(chunk.pages)) as pool:
            return list(pool.map(paced, chunk.pages))
    return [reader.read(page) for page in chunk.pages]


class PageReader:
    """One page at a time, with the engine a chunk loaded: bytes -> image -> regions -> result."""

    def __init__(self, chunk: Chunk, engine: Engine[Any], engine_info: dict[str, str]) -> None:
        self.spec = chunk.spec
        self.engine = engine
        self.engine_info = engine_info

    def read(self, page: PageJob) -> Outcome:
        """The page's outcome, with what it cost at a billed service however it ended."""
        with metered() as meter:
            outcome = self._outcome(page)
        return _with_cost(outcome, meter)

    def _outcome(self, page: PageJob) -> Outcome:
        try:
            return self._read(page)
        except ThrottledError as exc:  # not the page's fault: retried later, no attempt counted
            return Throttled(page.key, page.canonical_id, redact(str(exc)), exc.retry_after_s, exc.pause)
        except PageError as exc:
            return failed(page, exc.error_class, redact(str(exc)))
        except ConfigError as exc:  # this worker lacks a store's SDK or credentials: no retry mends it
            return failed(page, ErrorClass.PERMANENT, redact(f"worker is not set up: {exc}"))
        except MemoryError:
            return failed(page, ErrorClass.RETRYABLE, "out of memory while processing the page")
        except Exception as exc:  # an engine bug on one page must not fail the chunk
            return failed(page, ErrorClass.RETRYABLE, redact(f"{type(exc).__name__}: {exc}"))

    def _read(self, page: PageJob) -> Outcome:
        started = time.perf_counter()
        spec = self.spec
        location = storage.result_location(spec.output, page.canonical_id)
        # Refused first: an image outside the allowed roots is refused, never "skipped"
        # because a result with its id exists.
        storage.check_allowed(page.image_path, list(spec.allowed_roots), spec.allow_http)
        if spec.skip_existing and storage.exists(location):
            return self._already_there(page, location)
        data = self._image_bytes(page)
        image = images.decode(data, spec.max_image_pixels)
        direction = spec.direction or layout.default_direction(spec.engine.lang)
        found = self.engine.recognize(image)
        if self.engine.keeps_order:  # a VLM answers in reading order already
            regions = found.regions
        else:
            regions = layout.order_page(image, found.regions, direction)
        ruby: list[Region] | None = None
        if spec.engine.lang == "ja" and not self.engine.keeps_order:
            regions, ruby = furigana.split(regions)
        duration = time.perf_counter() - started
        result = results.build_result(
            canonical_id=page.canonical_id,
            source_image_path=page.image_path,
            source_member=page.member,
            method=spec.engine.name,
            engine_info=self.engine_info,
            regions=regions,
            image_bytes=data,
            width=image.width,
            height=image.height,
            lang=spec.engine.lang,
            direction=direction,
            duration_s=duration,
        )
        if found.usage is not None:
            result["usage"] = dict(found.usage)
        if ruby is not None:
            result["furigana"] = [r.to_json() for r in ruby]
        if not storage.write_atomic(location, results.encode(result), overwrite=not spec.skip_existing):
            return self._already_there(page, location, data)  # a racing delivery wrote it first
        return Done(page.key, page.canonical_id, location, len(regions), round(duration, 3), found.usage)

    def _image_bytes(self, page: PageJob) -> bytes:
        if page.member is None:
            return storage.read_bytes(page.image_path, self.spec.max_image_bytes)
        return archives.read_member(page.image_path, page.member, self.spec.max_image_bytes)

    def _already_there(self, page: PageJob, location: str, data: bytes | None = None) -> Outcome:
        """Skipped when the result there is this page's; a collision (permanent) when it was
        written for another image: skipping would leave this image unread, without a word.
        A result naming another path is still this page's when it holds the same bytes (a
        folder that moved)."""
        recorded = _recorded_source(location)
        if recorded is None or recorded[:2] == (page.image_path, page.member):
            return Skipped(page.key, page.canonical_id, location)
        path, member, sha256 = recorded
        if sha256 is not None and hashlib.sha256(data or self._image_bytes(page)).hexdigest() == sha256:
            return Skipped(page.key, page.canonical_id, location)
        other = path if member is None else f"{path} member {member}"
        return failed(
            page,
            ErrorClass.PERMANENT,
            f"id collision: the result {location[:300]} is another image's ({other[:300]}), not this"
            f" page's ({page.image_path[:300]}): give one of them another id, or delete that result",
        )


def _with_cost(outcome: Outcome, meter: Meter) -> Outcome:
    """``outcome`` with the requests the page sent and, where it has none, the usage of the
    answer the service billed (an unusable answer, or one a racing delivery made moot)."""
    if not meter.requests and meter.usage is None:
        return outcome
    if isinstance(outcome, Throttled) or outcome.usage is not None or meter.usage is None:
        return dataclasses.replace(outcome, requests=meter.requests)
    return dataclasses.replace(outcome, requests=meter.requests, usage=meter.usage)


# A result is a few KiB to a few MiB; one past this is not read to compare its source.
_MAX_RESULT_BYTES = 64 * 1024 * 1024


def _recorded_source(location: str) -> tuple[str, str | None, str | None] | None:
    """(image path, archive member, sha256) the result at ``location`` was written for; None
    when it cannot be read or says nothing (then the result is taken as this page's, as before)."""
    try:
        found = json.loads(storage.read_bytes(location, _MAX_RESULT_BYTES))
    except (PageError, ValueError):
        return None
    if not isinstance(found, dict) or not isinstance(found.get("source_image_path"), str):
        return None
    member = found.get("source_archive_member")
    image = found.get("image")
    sha256 = image.get("sha256") if isinstance(image, dict) else None
    return (
        found["source_image_path"],
        member if isinstance(member, str) else None,
        sha256 if isinstance(sha256, str) else None,
    )
