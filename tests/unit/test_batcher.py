import asyncio
import functools
import operator
import time

from comicocr.consumer.batcher import next_batch, split_evenly


async def test_batch_closes_at_size() -> None:
    source: asyncio.Queue[int] = asyncio.Queue()
    for i in range(7):
        source.put_nowait(i)
    assert await next_batch(source, size=5, window_s=10) == [0, 1, 2, 3, 4]


async def test_batch_closes_at_window_after_first_item() -> None:
    source: asyncio.Queue[int] = asyncio.Queue()
    source.put_nowait(1)
    started = time.monotonic()
    assert await next_batch(source, size=5, window_s=0.2) == [1]
    assert 0.15 < time.monotonic() - started < 1.0


def test_split_keeps_every_worker_busy_and_caps_chunks() -> None:
    assert split_evenly(list(range(10)), workers=2, max_chunk=25) == [list(range(5)), list(range(5, 10))]
    assert split_evenly([1], workers=4, max_chunk=25) == [[1]]
    chunks = split_evenly(list(range(100)), workers=2, max_chunk=20)
    assert len(chunks) == 5
    assert functools.reduce(operator.iadd, chunks, []) == list(range(100))
    assert split_evenly([], 2, 5) == []


async def test_batch_closes_early_when_the_queue_is_drained() -> None:
    source: asyncio.Queue[int] = asyncio.Queue()
    drained = asyncio.Event()
    source.put_nowait(1)
    source.put_nowait(2)
    drained.set()
    started = time.monotonic()
    assert await next_batch(source, size=50, window_s=5, drained=drained) == [1, 2]
    assert time.monotonic() - started < 0.5
