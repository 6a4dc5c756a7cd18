"""Micro-batching on the loop's clock (looptime fast-forwards it: no test sleeps for real)."""

import asyncio
import functools
import operator

import pytest

from comicocr.consumer.batcher import next_batch
from comicocr.consumer.planner import split_evenly

pytestmark = pytest.mark.looptime


async def test_batch_closes_at_size(looptime: float) -> None:
    source: asyncio.Queue[int] = asyncio.Queue()
    for i in range(7):
        source.put_nowait(i)
    assert await next_batch(source, size=5, window_s=10) == [0, 1, 2, 3, 4]
    assert looptime == 0  # nothing waited


async def test_batch_closes_at_window_after_first_item(looptime: float) -> None:
    source: asyncio.Queue[int] = asyncio.Queue()
    loop = asyncio.get_running_loop()
    loop.call_later(3, source.put_nowait, 1)  # the first item comes at t=3 ...
    loop.call_later(3.5, source.put_nowait, 2)  # ... a second inside the window ...
    loop.call_later(6, source.put_nowait, 3)  # ... a third after it closed
    assert await next_batch(source, size=5, window_s=2) == [1, 2]
    assert looptime == 5  # the window counts from the first item, not from the call
    assert source.qsize() == 0
    await asyncio.sleep(1.5)
    assert source.get_nowait() == 3  # a wait that timed out took nothing from the queue


async def test_batch_closes_early_when_the_queue_is_drained(looptime: float) -> None:
    source: asyncio.Queue[int] = asyncio.Queue()
    drained = asyncio.Event()
    source.put_nowait(1)
    source.put_nowait(2)
    loop = asyncio.get_running_loop()
    loop.call_later(0.7, drained.set)  # the receiver finds the queue empty at t=0.7
    assert await next_batch(source, size=50, window_s=5, drained=drained) == [1, 2]
    assert looptime == 0.7


def test_split_keeps_every_worker_busy_and_caps_chunks() -> None:
    assert split_evenly(list(range(10)), workers=2, max_chunk=25) == [list(range(5)), list(range(5, 10))]
    assert split_evenly([1], workers=4, max_chunk=25) == [[1]]
    chunks = split_evenly(list(range(100)), workers=2, max_chunk=20)
    assert len(chunks) == 5
    assert functools.reduce(operator.iadd, chunks, []) == list(range(100))
    assert split_evenly([], 2, 5) == []


async def test_batch_goes_at_once_when_the_workers_are_idle(looptime: float) -> None:
    source: asyncio.Queue[int] = asyncio.Queue()
    idle = asyncio.Event()
    idle.set()  # nothing runs: a lone page must not wait out the window
    loop = asyncio.get_running_loop()
    loop.call_later(1, source.put_nowait, 1)
    assert await next_batch(source, size=50, window_s=5, idle=idle) == [1]
    assert looptime == 1


async def test_an_idle_pipeline_waits_for_the_receiver_to_catch_up_not_for_the_window(
    looptime: float,
) -> None:
    source: asyncio.Queue[int] = asyncio.Queue()
    idle, caught_up = asyncio.Event(), asyncio.Event()
    idle.set()
    loop = asyncio.get_running_loop()
    # A backfill: full receives of 10 every 0.1 s, then a short one (the rest) at t=0.3
    for n in range(3):
        for i in range(10):
            loop.call_later(0.1 * n, source.put_nowait, 10 * n + i)
    loop.call_later(0.3, lambda: (source.put_nowait(30), caught_up.set()))
    batch = await next_batch(source, size=50, window_s=5, idle=idle, caught_up=caught_up)
    assert sorted(batch) == list(range(31))  # one batch, not the first ten
    assert looptime == 0.3
    # A trickle: the receive that brought the lone page was short already: it goes at once
    loop.call_later(1, source.put_nowait, 99)
    assert await next_batch(source, size=50, window_s=5, idle=idle, caught_up=caught_up) == [99]
    assert looptime == 1.3


async def test_batch_gathers_while_others_run_and_goes_when_they_end(looptime: float) -> None:
    source: asyncio.Queue[int] = asyncio.Queue()
    idle = asyncio.Event()  # another batch is running
    loop = asyncio.get_running_loop()
    for i in range(4):
        loop.call_later(0.5 * i, source.put_nowait, i)
    loop.call_later(1.7, idle.set)  # ... until t=1.7
    assert await next_batch(source, size=50, window_s=5, idle=idle) == [0, 1, 2, 3]
    assert looptime == 1.7


async def test_batch_closes_at_its_weight_cap(looptime: float) -> None:
    source: asyncio.Queue[str] = asyncio.Queue()
    for body in ["a" * 400, "b" * 400, "c" * 400, "d"]:
        source.put_nowait(body)
    batch = await next_batch(source, size=50, window_s=5, weigh=len, max_weight=700)
    assert [b[0] for b in batch] == ["a", "b"]  # the item that passes the cap is the last
    assert looptime == 0
