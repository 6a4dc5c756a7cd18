"""The embedded queue keeps SQS semantics: visibility, receive counts, DLQ, batches."""

import asyncio
import time
from pathlib import Path

import pytest

from comicocr.queues.base import Outgoing
from comicocr.queues.local import LocalQueue


@pytest.fixture
async def queue(tmp_path: Path):
    q = LocalQueue(f"sqlite:///{tmp_path}/q.sqlite3", max_receives=3)
    await q.ensure()
    yield q
    await q.close()


async def test_receive_hides_until_visibility_expires(queue: LocalQueue) -> None:
    await queue.send_batch([Outgoing("a"), Outgoing("b", {"k": "v"})])
    got = await queue.receive(10, 0, visibility_s=1)
    assert [m.body for m in got] == ["a", "b"]
    assert got[1].attributes == {"k": "v"}
    assert all(m.receive_count == 1 for m in got)
    assert await queue.receive(10, 0, 1) == []
    depths = await queue.depths()
    assert (depths.visible, depths.in_flight) == (0, 2)
    await asyncio.sleep(1.1)
    again = await queue.receive(10, 0, 30)
    assert [m.receive_count for m in again] == [2, 2]


async def test_delete_needs_the_latest_receipt(queue: LocalQueue) -> None:
    await queue.send_batch([Outgoing("a")])
    first = (await queue.receive(1, 0, 0))[0]
    second = (await queue.receive(1, 0, 30))[0]
    assert await queue.delete_batch([first.receipt]) == [0]  # stale receipt fails, as on SQS
    assert await queue.delete_batch([second.receipt]) == []
    assert (await queue.depths()).pending == 0


async def test_change_visibility_hands_back(queue: LocalQueue) -> None:
    await queue.send_batch([Outgoing("a")])
    msg = (await queue.receive(1, 0, 300))[0]
    assert await queue.change_visibility_batch([(msg.receipt, 0)]) == []
    assert len(await queue.receive(1, 0, 300)) == 1


async def test_delay_and_long_poll(queue: LocalQueue) -> None:
    await queue.send_batch([Outgoing("later", delay_s=1)])
    assert (await queue.depths()).delayed == 1
    started = time.monotonic()
    got = await queue.receive(1, wait_s=3, visibility_s=30)
    assert [m.body for m in got] == ["later"]
    assert 0.8 < time.monotonic() - started < 2.5


async def test_safety_net_moves_to_dlq_after_max_receives(queue: LocalQueue) -> None:
    await queue.send_batch([Outgoing("poison")])
    for _ in range(3):
        assert len(await queue.receive(1, 0, 0)) == 1
    assert await queue.receive(1, 0, 0) == []
    assert (await queue.depths()).dead == 1
    dead = await queue.receive_dead_letters(10, 30)
    assert [m.body for m in dead] == ["poison"]
    assert await queue.delete_dead_letters([dead[0].receipt]) == []


async def test_two_handles_share_one_file(tmp_path: Path) -> None:
    address = f"sqlite:///{tmp_path}/shared.sqlite3"
    producer, consumer = LocalQueue(address), LocalQueue(address)
    await producer.send_batch([Outgoing(str(i)) for i in range(10)])
    got = await consumer.receive(10, 0, 30)
    assert sorted(m.body for m in got) == [str(i) for i in range(10)]
    await producer.close()
    await consumer.close()
