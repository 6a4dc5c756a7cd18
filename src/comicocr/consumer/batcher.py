"""Micro-batching and chunking: pure helpers the supervisor composes."""

from __future__ import annotations

import asyncio
import json
import math
import time
from typing import Any, TypeVar

T = TypeVar("T")


async def next_batch(
    source: asyncio.Queue[T], size: int, window_s: float, drained: asyncio.Event | None = None
) -> list[T]:
    """Wait for a first item, then gather until ``size`` items or ``window_s`` after the first,
    or until the queue behind ``source`` is known to be empty (``drained``): waiting longer
    could not fill the batch, only delay it."""
    batch = [await source.get()]
    deadline = time.monotonic() + window_s
    while len(batch) < size:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or (drained is not None and drained.is_set() and source.empty()):
            break
        try:
            batch.append(await asyncio.wait_for(source.get(), min(remaining, 0.05)))
        except TimeoutError:
            continue
    return batch


def group_key(spec: dict[str, Any]) -> str:
    """Pages share a Lithops call only when they share engine, options and output."""
    return json.dumps(spec, sort_keys=True, default=str)


def split_evenly(items: list[T], workers: int, max_chunk: int) -> list[list[T]]:
    """Split into as few chunks as keep every worker busy, none larger than ``max_chunk``."""
    if not items:
        return []
    n_chunks = max(min(workers, len(items)), math.ceil(len(items) / max_chunk))
    size = math.ceil(len(items) / n_chunks)
    return [items[i : i + size] for i in range(0, len(items), size)]
