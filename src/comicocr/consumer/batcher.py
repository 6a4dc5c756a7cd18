"""Micro-batching: a batch takes what is waiting when it is its turn, up to its caps.

The consumer asks for a batch once it holds a free dispatch slot. The batch then takes the
messages received and goes as soon as nothing else is running and the receiver has caught up
(its last receive got fewer messages than it asked for: what was waiting is in hand). An idle
pipeline gains nothing by waiting longer, and a backfill's first batch is not cut at the
first ten messages (each batch is a Lithops job to start and an engine load per chunk:
measured, cutting it cost a 48-page Tesseract backfill a fifth of its speed). While other
batches run it keeps gathering until they finish, its caps are reached, the window has
passed, or the queue is known to be empty. So it grows with the backlog (a backfill fills it
while the batch before runs) and stays small on a trickle (a single page goes as soon as it
arrives).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


async def next_batch(
    source: asyncio.Queue[T],
    size: int,
    window_s: float,
    drained: asyncio.Event | None = None,
    idle: asyncio.Event | None = None,
    caught_up: asyncio.Event | None = None,
    *,
    weigh: Callable[[T], int] | None = None,
    max_weight: int | None = None,
) -> list[T]:
    """Wait for a first item, then gather until ``size`` items (or ``max_weight`` by
    ``weigh``), ``window_s`` after the first, the queue behind ``source`` is known to be
    empty (``drained``), or the workers have nothing to do (``idle``) and what was waiting is
    in hand (``caught_up``; None: always): waiting longer could not fill the batch, or would
    only leave the workers idle.

    Times are the event loop's (``loop.time()``), and it waits on the items and the signals
    themselves, never polling, so tests can run it on a fast-forwarded loop clock.
    """
    loop = asyncio.get_running_loop()
    batch = [await source.get()]
    weight = weigh(batch[0]) if weigh else 0
    deadline = loop.time() + window_s
    signals = [e for e in (drained, idle, caught_up) if e is not None]

    def may_go() -> bool:
        if drained is not None and drained.is_set():
            return True
        return idle is not None and idle.is_set() and (caught_up is None or caught_up.is_set())

    def full() -> bool:
        return len(batch) >= size or (max_weight is not None and weight >= max_weight)

    while not full():
        if not source.empty():
            item = source.get_nowait()
            batch.append(item)
            weight += weigh(item) if weigh else 0
            continue
        remaining = deadline - loop.time()
        if remaining <= 0 or may_go():
            break
        getter = asyncio.ensure_future(source.get())
        waiters = [asyncio.ensure_future(e.wait()) for e in signals if not e.is_set()]
        try:
            await asyncio.wait({getter, *waiters}, timeout=remaining, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
            if not getter.done():
                getter.cancel()  # asyncio.Queue leaves the item in place for the next get
        for waiter in waiters:
            with contextlib.suppress(asyncio.CancelledError):
                await waiter
        if getter.done() and not getter.cancelled():
            item = getter.result()
            batch.append(item)
            weight += weigh(item) if weigh else 0
    return batch
