"""The queue port: the SQS operations the pipeline uses, behind one async interface.

Two adapters implement it: ``sqs.py`` (any SQS-compatible server, through
aiobotocore) and ``local.py`` (an embedded SQLite queue with SQS semantics for one
machine). Batch operations take at most ``MAX_BATCH`` entries, as SQS does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

MAX_BATCH = 10
MAX_VISIBILITY_S = 12 * 3600  # SQS's cap on a message's visibility timeout
MAX_DELAY_S = 900  # SQS's cap on DelaySeconds


@dataclass(frozen=True)
class Message:
    """One received message; ``receipt`` is valid until the message is received again."""

    id: str
    receipt: str
    body: str
    receive_count: int
    attributes: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Outgoing:
    body: str
    attributes: dict[str, str] = field(default_factory=dict)
    delay_s: int = 0


@dataclass(frozen=True)
class Depths:
    visible: int
    in_flight: int
    delayed: int
    dead: int

    @property
    def pending(self) -> int:
        """Messages not yet finished: waiting, being worked on, or delayed."""
        return self.visible + self.in_flight + self.delayed


class Queue(Protocol):
    address: str

    async def ensure(self) -> None:
        """Create the queue and its dead-letter queue when they do not exist."""

    async def send_batch(self, entries: list[Outgoing]) -> list[int]:
        """Send up to 10 messages; return the indexes of entries that failed."""
        ...

    async def receive(self, max_messages: int, wait_s: float, visibility_s: int) -> list[Message]:
        """Long-poll for up to ``max_messages`` (at most 10)."""
        ...

    async def delete_batch(self, receipts: list[str]) -> list[int]:
        """Delete up to 10 messages by receipt; return the indexes that failed."""
        ...

    async def change_visibility_batch(self, items: list[tuple[str, int]]) -> list[int]:
        """Set (receipt, visibility seconds) for up to 10 messages; return failed indexes."""
        ...

    async def send_dead_letter(self, entries: list[Outgoing]) -> list[int]:
        """Send up to 10 messages to the dead-letter queue; return failed indexes."""
        ...

    async def receive_dead_letters(self, max_messages: int, visibility_s: int) -> list[Message]:
        """Receive from the dead-letter queue (for redrive and inspection)."""
        ...

    async def delete_dead_letters(self, receipts: list[str]) -> list[int]: ...

    async def release_dead_letters(self, receipts: list[str]) -> list[int]:
        """Make received dead letters visible again at once (up to 10)."""
        ...

    async def depths(self) -> Depths: ...

    async def close(self) -> None: ...
