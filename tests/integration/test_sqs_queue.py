"""The SQS adapter against the real server: the same semantics the embedded queue copies."""

import asyncio

from comicocr.queues.base import Outgoing
from comicocr.queues.sqs import SQSQueue


async def test_send_receive_delete_and_visibility(queue_address: str) -> None:
    queue = SQSQueue(queue_address, visibility_s=60)
    await queue.ensure()
    assert await queue.send_batch([Outgoing(f"m{i}", {"comicocr-attempts": "1"}) for i in range(10)]) == []
    got = []
    while len(got) < 10:
        got += await queue.receive(10, 1, visibility_s=60)
    assert sorted(m.body for m in got) == sorted(f"m{i}" for i in range(10))
    assert all(m.attributes["comicocr-attempts"] == "1" and m.receive_count == 1 for m in got)
    assert await queue.delete_batch([m.receipt for m in got[:9]]) == []
    assert await queue.change_visibility_batch([(got[9].receipt, 0)]) == []
    again = await queue.receive(10, 2, visibility_s=60)
    assert [m.body for m in again] == [got[9].body]
    assert again[0].receive_count == 2
    await queue.delete_batch([again[0].receipt])
    depths = await queue.depths()
    assert (depths.pending, depths.dead) == (0, 0)
    await queue.close()


async def test_dead_letters_and_delays(queue_address: str) -> None:
    queue = SQSQueue(queue_address)
    await queue.ensure()
    await queue.dead_letters.send_batch([Outgoing("dead", {"comicocr-error-class": "permanent"})])
    await queue.send_batch([Outgoing("later", delay_s=2)])
    await asyncio.sleep(0.3)
    depths = await queue.depths()
    assert (depths.delayed, depths.dead) == (1, 1)
    dead = await queue.dead_letters.receive(10, 0, 30)
    assert dead[0].attributes["comicocr-error-class"] == "permanent"
    assert await queue.dead_letters.delete_batch([dead[0].receipt]) == []
    await queue.close()
