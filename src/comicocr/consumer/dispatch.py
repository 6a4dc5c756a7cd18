"""Turn a micro-batch into Lithops chunks, run them, and get one outcome per page back.

A chunk is one Lithops call: pages that share engine, options and output, as many
chunks as keep every worker busy. When a whole call dies (worker crash, OOM kill,
timeout) every page in it failed without any of them being to blame, so the pages
of such a chunk run once more one by one: the page that kills its worker then fails
alone, and its neighbours succeed instead of losing an attempt to it.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass
from typing import Any, Protocol

import structlog

from comicocr.consumer.batcher import group_key, split_evenly
from comicocr.messages import PageMessage
from comicocr.queues.base import Message
from comicocr.redact import redact
from comicocr.remote import chunk_failed

log = structlog.get_logger("comicocr.dispatch")

Outcome = dict[str, Any]


class Dispatcher(Protocol):
    def run_chunks(self, chunks: list[dict[str, Any]]) -> list[list[Outcome]]: ...


@dataclass
class Chunk:
    spec: dict[str, Any]  # engine, output, limits: the same for every page of the chunk
    items: list[tuple[Message, PageMessage]]
    send_at: list[float] | None = None  # paced pages: when each request may go (epoch s)

    def payload(self) -> dict[str, Any]:
        pages = [
            {"key": str(i), "canonical_id": p.canonical_id, "image_path": p.image_path}
            for i, (_, p) in enumerate(self.items)
        ]
        extra = {"send_at": self.send_at} if self.send_at else {}
        return {**self.spec, **extra, "pages": pages}

    def single(self, i: int) -> Chunk:
        return Chunk(self.spec, [self.items[i]], [self.send_at[i]] if self.send_at else None)


def build_chunks(
    items: list[tuple[Message, PageMessage, dict[str, Any]]], workers: int, max_chunk: int
) -> list[Chunk]:
    """Group (message, page, spec) by spec, then split each group evenly across workers."""
    groups: dict[str, tuple[dict[str, Any], list[tuple[Message, PageMessage]]]] = {}
    for message, page, spec in items:
        groups.setdefault(group_key(spec), (spec, []))[1].append((message, page))
    return [
        Chunk(spec, part)
        for spec, members in groups.values()
        for part in split_evenly(members, workers, max_chunk)
    ]


async def _run(dispatcher: Dispatcher, chunks: list[Chunk], deadline_s: float) -> list[list[Outcome]]:
    # The deadline lives here, on the asyncio side (Lithops' wait(timeout=) uses SIGALRM).
    try:
        payloads = [c.payload() for c in chunks]
        return await asyncio.wait_for(asyncio.to_thread(dispatcher.run_chunks, payloads), deadline_s)
    except Exception as exc:
        error = "dispatch timed out" if isinstance(exc, TimeoutError) else f"dispatch failed: {exc}"
        log.warning("batch.dispatch_failed", error=redact(error)[:200])
        return [chunk_failed(c.payload()["pages"], error) for c in chunks]


async def run_chunks(
    dispatcher: Dispatcher, chunks: list[Chunk], workers: int, task_timeout_s: float
) -> list[tuple[Message, PageMessage, dict[str, Any], Outcome]]:
    """Run ``chunks``; return (message, page, spec, outcome) for every page."""

    def deadline(n: int) -> float:  # calls beyond the worker count wait for a free worker
        return task_timeout_s * math.ceil(n / max(workers, 1)) + 60

    results = await _run(dispatcher, chunks, deadline(len(chunks)))
    suspects = [
        i
        for i, (c, outs) in enumerate(zip(chunks, results, strict=True))
        if len(c.items) > 1 and outs and all(o.get("chunk_failed") for o in outs)
    ]
    if suspects:
        singles = [chunks[i].single(j) for i in suspects for j in range(len(chunks[i].items))]
        log.warning("batch.isolating", chunks=len(suspects), pages=len(singles))
        retried = iter(await _run(dispatcher, singles, deadline(len(singles))))
        for i in suspects:  # each single ran as key "0": put them back at their places
            results[i] = [{**next(retried)[0], "key": str(j)} for j in range(len(chunks[i].items))]
    out = []
    for chunk, outcomes in zip(chunks, results, strict=True):
        by_key = {o.get("key"): o for o in outcomes}
        for i, (message, page) in enumerate(chunk.items):
            outcome = by_key.get(str(i)) or {
                "status": "error",
                "error_class": "retryable",
                "error": "no outcome from worker",
            }
            outcome.setdefault("canonical_id", page.canonical_id)
            out.append((message, page, chunk.spec, outcome))
    return out
