"""The embedded queue keeps SQS semantics: visibility, receive counts, DLQ, batches.
Visibility and delays count on a clock the tests move (``Clock``): nothing sleeps for them."""

import asyncio
import sqlite3
from pathlib import Path

import pytest

from comicocr.errors import ConfigError
from comicocr.queues.base import MoveUnsupported, Outgoing, Sent
from comicocr.queues.local import LocalQueue

from .conftest import Clock


async def test_receive_hides_until_visibility_expires(queue: LocalQueue, clock: Clock) -> None:
    await queue.send_batch([Outgoing("a"), Outgoing("b", {"k": "v"})])
    got = await queue.receive(10, 0, visibility_s=1)
    assert [m.body for m in got] == ["a", "b"]
    assert got[1].attributes == {"k": "v"}
    assert all(m.receive_count == 1 for m in got)
    assert await queue.receive(10, 0, 1) == []
    depths = await queue.depths()
    assert (depths.visible, depths.in_flight) == (0, 2)
    clock.now += 0.9
    assert await queue.receive(10, 0, 1) == []
    clock.now += 0.2
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


async def test_delay_and_long_poll(queue: LocalQueue, clock: Clock) -> None:
    await queue.send_batch([Outgoing("later", delay_s=1)])
    assert (await queue.depths()).delayed == 1
    poll = asyncio.create_task(queue.receive(1, wait_s=3, visibility_s=30))
    await asyncio.sleep(0.2)
    assert not poll.done()  # a long poll waits for the delayed message ...
    clock.now += 1.0
    got = await asyncio.wait_for(poll, 2)  # ... and takes it once it is due
    assert [m.body for m in got] == ["later"]
    empty = asyncio.create_task(queue.receive(1, wait_s=3, visibility_s=30))
    await asyncio.sleep(0.2)
    assert not empty.done()
    clock.now += 3  # an empty long poll returns once its wait is over
    assert await asyncio.wait_for(empty, 2) == []


async def test_safety_net_moves_to_dlq_after_max_receives(queue: LocalQueue) -> None:
    await queue.send_batch([Outgoing("poison")])
    for _ in range(3):
        assert len(await queue.receive(1, 0, 0)) == 1
    assert await queue.receive(1, 0, 0) == []
    assert (await queue.depths()).dead == 1
    dead = await queue.dead_letters.receive(10, 0, 30)
    assert [m.body for m in dead] == ["poison"]
    assert await queue.dead_letters.delete_batch([dead[0].receipt]) == []


async def test_dead_letter_queue_is_a_queue_of_its_own(queue: LocalQueue) -> None:
    dlq = queue.dead_letters
    await dlq.send_batch([Outgoing("d1"), Outgoing("d2")])
    await queue.send_batch([Outgoing("m1")])
    assert ((await queue.depths()).visible, (await queue.depths()).dead) == (1, 2)
    assert ((await dlq.depths()).visible, (await dlq.depths()).dead) == (2, 0)
    got = await dlq.receive(10, 0, 30)
    assert sorted(m.body for m in got) == ["d1", "d2"]
    assert await queue.delete_batch([got[0].receipt]) == [0]  # a DLQ receipt is not the main queue's
    assert await dlq.change_visibility_batch([(got[0].receipt, 0)]) == []
    with pytest.raises(ConfigError):
        _ = dlq.dead_letters
    with pytest.raises(MoveUnsupported):
        await queue.move_dead_letters_back()


async def test_two_handles_share_one_file(tmp_path: Path) -> None:
    address = f"sqlite:///{tmp_path}/shared.sqlite3"
    producer, consumer = LocalQueue(address), LocalQueue(address)
    await producer.send_batch([Outgoing(str(i)) for i in range(10)])
    got = await consumer.receive(10, 0, 30)
    assert sorted(m.body for m in got) == [str(i) for i in range(10)]
    await producer.close()
    await consumer.close()


async def test_a_waiting_page_is_not_sent_twice(queue: LocalQueue, clock: Clock) -> None:
    first = await queue.send_batch([Outgoing("p1", dedup_id="p1"), Outgoing("p2", dedup_id="p2")])
    assert first.duplicates == []
    assert first.failed == []
    again = await queue.send_batch(
        [Outgoing("p1", dedup_id="p1"), Outgoing("p3", dedup_id="p3"), Outgoing("p3", dedup_id="p3")]
    )
    assert again.duplicates == [0, 2]  # p1 waits already; the second p3 repeats the first
    assert (await queue.depths()).visible == 3


async def test_a_page_in_flight_may_be_sent_again(queue: LocalQueue, clock: Clock) -> None:
    # Its consumer may be dead: waiting out the visibility timeout would stall the re-run.
    await queue.send_batch([Outgoing("p1", dedup_id="p1")])
    (held,) = await queue.receive(1, 0, visibility_s=60)
    assert (await queue.send_batch([Outgoing("p1", dedup_id="p1")])).duplicates == []
    await queue.delete_batch([held.receipt])
    clock.now += 61  # the new one is waiting; a repeat of it is dropped again
    assert (await queue.send_batch([Outgoing("p1", dedup_id="p1")])).duplicates == [0]


async def test_a_deleted_or_dead_lettered_page_may_be_sent_again(queue: LocalQueue, clock: Clock) -> None:
    await queue.send_batch([Outgoing("p1", dedup_id="p1"), Outgoing("p2", dedup_id="p2")])
    (one,) = await queue.receive(1, 0, visibility_s=0)
    await queue.delete_batch([one.receipt])
    for _ in range(3):  # p2 reaches max_receives; the next receive moves it to the DLQ
        await queue.receive(10, 0, visibility_s=0)
    assert await queue.receive(10, 0, 0) == []
    assert (await queue.dead_letters.depths()).visible == 1
    assert (await queue.send_batch([Outgoing("p1", dedup_id="p1"), Outgoing("p2", dedup_id="p2")])) == Sent()


async def test_a_queue_file_from_before_dedup_gains_it(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    db = sqlite3.connect(path)
    db.executescript(
        "CREATE TABLE messages (seq INTEGER PRIMARY KEY AUTOINCREMENT, queue TEXT NOT NULL,"
        " id TEXT NOT NULL UNIQUE, body TEXT NOT NULL, attributes TEXT NOT NULL, visible_at REAL NOT NULL,"
        " receive_count INTEGER NOT NULL DEFAULT 0, receipt TEXT UNIQUE);"
        "INSERT INTO messages (queue, id, body, attributes, visible_at) VALUES ('main', 'x', 'old', '{}', 0);"
    )
    db.commit()
    db.close()
    queue = LocalQueue(f"sqlite:///{path}")
    try:
        assert (
            await queue.send_batch([Outgoing("new", dedup_id="n"), Outgoing("new", dedup_id="n")])
        ).duplicates == [1]
        assert sorted(m.body for m in await queue.receive(10, 0, 30)) == ["new", "old"]
    finally:
        await queue.close()
