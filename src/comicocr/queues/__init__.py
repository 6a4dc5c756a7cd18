"""Queues behind one port (base.py): SQS via aiobotocore, or the embedded SQLite queue."""

from __future__ import annotations

from comicocr.queues.base import Depths, Message, MoveUnsupported, Outgoing, Queue, in_tens


def open_queue(address: str, dlq_address: str | None = None, visibility_s: int = 300) -> Queue:
    """Pick the adapter from the address: SQS URLs and ``sqs://name``, else a local SQLite file."""
    if address.startswith(("http://", "https://", "sqs://")):
        from comicocr.queues.sqs import SQSQueue

        return SQSQueue(address, dlq_address, visibility_s)
    from comicocr.queues.local import LocalQueue

    return LocalQueue(address)


__all__ = ["Depths", "Message", "MoveUnsupported", "Outgoing", "Queue", "in_tens", "open_queue"]
