"""Micro-batching: gather received messages into a batch of N, or whatever came in T seconds."""

from __future__ import annotations

import asyncio
import contextlib
from typing import TypeVar

T = TypeVar("T")


async def next_batch(
    source: asyncio.Queue[T], size: int, window_s: float, drained: asyncio.Event | None = None
) -> list[T]:
    """Wait for a first item, then gather until ``size`` items or ``window_s`` after the first,
    or until the queue behind ``source`` is known to be empty (``drained``): waiting longer
    could not fill the batch, only delay it.

    Times are the event loop's (``loop.time()``), and it waits on the items and the drained
    signal themselves, never polling, so tests can run it on a fast-forwarded loop clock.
    """
    loop = asyncio.get_running_loop()
    batch = [await source.get()]
    deadline = loop.time() + window_s
    drained = drained or asyncio.Event()
    while len(batch) < size:
        if not source.empty():
            batch.append(source.get_nowait())
            continue
        remaining = deadline - loop.time()
        if remaining <= 0 or drained.is_set():
            break
        getter = asyncio.ensure_future(source.get())
        signal = asyncio.ensure_future(drained.wait())
        try:
            await asyncio.wait({getter, signal}, timeout=remaining, return_when=asyncio.FIRST_COMPLETED)
        finally:
            signal.cancel()
            if not getter.done():
                getter.cancel()  # asyncio.Queue leaves the item in place for the next get
        with contextlib.suppress(asyncio.CancelledError):
            await signal
        if getter.done() and not getter.cancelled():
            batch.append(getter.result())
    return batch
