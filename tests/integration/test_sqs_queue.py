"""The SQS adapter against the real server: the same semantics the embedded queue copies."""

import asyncio

from comicocr.queues.base import Outgoing
from comicocr.queues.sqs import SQSQueue


async def test_send_receive_delete_and_visibility(queue_address: str) -> None:
    queue = SQSQueue(queue_address, visibility_s=60)
    await queue.ensure()
    assert (
        await queue.send_batch([Outgoing(f"m{i}", {"comicocr-attempts": "1"}) for i in range(10)])
    ).failed == []
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


async def test_a_fifo_queue_takes_a_page_once_and_every_resend(queue_address: str) -> None:
    queue = SQSQueue(f"{queue_address}.fifo")
    await queue.ensure()  # creates t-....fifo and t-...-dlq.fifo
    assert queue.dead_letters.name == f"{queue_address.removeprefix('sqs://')}-dlq.fifo"
    first = [Outgoing(f"page {i}", dedup_id=f"p{i}") for i in range(3)]
    assert (await queue.send_batch(first)).failed == []
    assert (await queue.send_batch(first[:2])).failed == []  # dropped by SQS's deduplication
    # A retry re-sends the same body without a dedup id, and with a delay FIFO queues refuse
    # per message: it must arrive all the same.
    assert (await queue.send_batch([Outgoing("page 0", {"comicocr-attempts": "1"}, delay_s=5)])).failed == []
    got: list[str] = []
    for _ in range(5):
        got += [m.body for m in await queue.receive(10, 1, visibility_s=60)]
    assert sorted(got) == ["page 0", "page 0", "page 1", "page 2"]
    assert (await queue.dead_letters.send_batch([Outgoing("dead")])).failed == []
    assert (await queue.depths()).dead == 1
    await queue.close()


async def test_a_fifo_queue_needs_a_fifo_dead_letter_queue(queue_address: str) -> None:
    import pytest

    from comicocr.errors import ConfigError

    queue = SQSQueue(f"{queue_address}.fifo", f"{queue_address}-dlq")
    with pytest.raises(ConfigError, match="both be FIFO"):
        await queue.ensure()
    await queue.close()
