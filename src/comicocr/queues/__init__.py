"""Queues behind one port (base.py): SQS via aiobotocore, or the embedded SQLite queue."""

from __future__ import annotations

import re

from comicocr.errors import ConfigError
from comicocr.queues.base import Depths, Message, MoveUnsupported, Outgoing, Queue, in_tens

_SQS_NAME = re.compile(r"[A-Za-z0-9_-]{1,75}(\.fifo)?|[A-Za-z0-9_-]{1,80}")  # AWS's rule
ADDRESS_FORMS = "an SQS queue URL (https://HOST/ACCOUNT/NAME), sqs://NAME, or sqlite:///FILE"


def open_queue(address: str, dlq_address: str | None = None, visibility_s: int = 300) -> Queue:
    """Pick the adapter from the address; anything else is a ConfigError, never a new file.

    ``sqlite:///rel/q.sqlite3`` is relative to the working folder, ``sqlite:////abs/q.sqlite3``
    absolute. A bare name (``my-queue``) or a URL without a scheme is refused: it is too easy
    to mean an SQS queue and get an empty local file instead.
    """
    if address.startswith("sqs://") and not _SQS_NAME.fullmatch(address[len("sqs://") :]):
        raise ConfigError(
            f"{address[:200]!r}: an SQS queue name is 1-80 letters, digits, '-' or '_' (and .fifo)"
        )
    if address.startswith(("http://", "https://", "sqs://")):
        from comicocr.queues.sqs import SQSQueue

        return SQSQueue(address, dlq_address, visibility_s)
    if address.startswith("sqlite:///") and len(address) > len("sqlite:///"):
        from comicocr.queues.local import LocalQueue

        return LocalQueue(address)
    raise ConfigError(f"not a queue address: {address[:200]!r}; use {ADDRESS_FORMS}")


__all__ = ["Depths", "Message", "MoveUnsupported", "Outgoing", "Queue", "in_tens", "open_queue"]
