"""The queue port: the SQS operations the pipeline uses, behind one async interface.

Two adapters implement it: ``sqs.py`` (any SQS-compatible server, through
aiobotocore) and ``local.py`` (an embedded SQLite queue with SQS semantics for one
machine). One ``Queue`` object is one queue; its dead-letter queue is another
``Queue``, reached through ``dead_letters``. Batch operations take at most
``MAX_BATCH`` entries, as SQS does (``in_tens`` slices a list that way).

A message the producer sends carries a ``dedup_id`` (its page's canonical id): the queue does not
take a second message with the same ``dedup_id`` while the first still waits in it, so
re-running an interrupted enqueue does not send every pending page again. The embedded queue
holds to that exactly (and says which entries it dropped); an SQS FIFO queue drops a
repeat within its 5-minute deduplication window without saying so; a standard SQS queue
cannot deduplicate at all (the producer skips pages that already have results instead).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from comicocr.errors import ConfigError

MAX_BATCH = 10
MAX_VISIBILITY_S = 12 * 3600  # SQS's cap on a message's visibility timeout
MAX_DELAY_S = 900  # SQS's cap on DelaySeconds

T = TypeVar("T")


def in_tens(items: Sequence[T]) -> list[list[T]]:
    """``items`` in groups of at most ``MAX_BATCH``, the most one batch call takes."""
    return [list(items[i : i + MAX_BATCH]) for i in range(0, len(items), MAX_BATCH)]


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
    # Only the producer's first send of a page has one. Re-sends (retries, dead letters,
    # redrives) must not: their original is still in the queue until they are sent.
    dedup_id: str | None = None


@dataclass(frozen=True)
class Sent:
    """What a ``send_batch`` did, by entry index."""

    failed: list[int] = field(default_factory=list)  # not sent: try again
    duplicates: list[int] = field(default_factory=list)  # dropped: the same dedup_id is waiting


@dataclass(frozen=True)
class Depths:
    visible: int
    in_flight: int
    delayed: int
    dead: int = 0  # messages in this queue's dead-letter queue

    @property
    def pending(self) -> int:
        """Messages not yet finished: waiting, being worked on, or delayed."""
        return self.visible + self.in_flight + self.delayed


STATS_WINDOWS_MIN = (1, 5, 15)  # the windows of ``QueueStats.deleted_per_min``, in minutes
DEAD_PEEK_LIMIT = 1000  # the most dead letters ``stats()`` looks at to count their error classes
ERROR_CLASS_ATTR = "comicocr-error-class"  # the consumer's reason class on each dead letter
UNCLASSIFIED = "unclassified"  # a dead letter without one (the safety net moved it)


@dataclass(frozen=True)
class QueueStats:
    """What ``Queue.stats()`` knows about a queue; None wherever the server cannot say.

    ``deleted_per_min`` maps each window of ``STATS_WINDOWS_MIN`` to the messages deleted per
    minute over its last that-many minutes: finished pages, and also every retried or
    dead-lettered one (each is deleted after it is forwarded), as SQS's
    ``NumberOfMessagesDeleted`` counts them. ``dead_by_class`` counts the dead letters by their
    ``comicocr-error-class`` attribute (``unclassified`` without one); ``dead_by_class_sampled``
    says it counted fewer than ``depths.dead`` (a capped peek, or dead letters hidden meanwhile).
    """

    depths: Depths
    oldest_age_s: float | None = None  # the oldest message's age; None when empty or unknown
    dead_by_class: dict[str, int] = field(default_factory=dict)
    dead_by_class_sampled: bool = False
    deleted_per_min: dict[int, float | None] = field(default_factory=lambda: dict.fromkeys(STATS_WINDOWS_MIN))


def per_minute(counts: Mapping[int, float], now: float, window_min: int) -> float:
    """Events per minute over the ``window_min`` minutes before ``now``, from per-minute counts
    (``counts[minute]``, minutes since the epoch).

    The minute the window starts in counts by the part of it inside the window, as if its
    events were spread evenly over it; the minute under way counts whole (its events are past).
    """
    start = now - 60 * window_min
    first = int(start // 60)
    total = sum(n for minute, n in counts.items() if first < minute <= now // 60)
    total += counts.get(first, 0) * (60 * (first + 1) - start) / 60
    return total / window_min


class QueueGone(ConfigError):
    """The queue is no longer there: deleted, or its server restarted without it."""


class MoveUnsupported(Exception):
    """The server cannot move messages itself: move them by receive -> send -> delete."""


class Queue(Protocol):
    address: str
    # Whether a message sent with ``delay_s`` waits that long (an SQS FIFO queue has no
    # per-message delay: the consumer then holds a throttled page back by its visibility).
    delays_messages: bool

    @property
    def dead_letters(self) -> Queue:
        """This queue's dead-letter queue (a dead-letter queue has none: ConfigError)."""
        ...

    async def ensure(self) -> None:
        """Create the queue and its dead-letter queue when they do not exist."""

    async def recreate(self) -> bool:
        """After ``QueueGone``: make the queue (and its dead-letter queue) again where its
        address says how (``sqs://NAME``) and return True; False where it does not (a queue URL
        names the operator's queue, which comicocr never creates)."""
        ...

    async def send_batch(self, entries: list[Outgoing]) -> Sent:
        """Send up to 10 messages; say which failed and which were dropped as duplicates."""
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

    async def move_dead_letters_back(self) -> int:
        """Move every dead letter back to this queue on the server's side; return how many.

        Optional: raises ``MoveUnsupported`` (or the server's error) where the server has no
        such operation; callers then move them one by one.
        """
        ...

    async def depths(self) -> Depths: ...

    async def stats(self, *, dead_peek: int = DEAD_PEEK_LIMIT) -> QueueStats:
        """Depths, the oldest message's age, dead letters by class and deletes per minute.

        Never raises for what the server does not know (that is None), only for what
        ``depths()`` raises too (no such queue: ConfigError). Where counting dead letters by
        class means receiving them (SQS), at most ``dead_peek`` are looked at, each hidden
        for a moment and handed back at once; ``dead_peek=0`` skips that (a frequent caller,
        such as a metrics scrape, should: it also hides dead letters from a running redrive).
        """
        ...

    async def close(self) -> None:
        """Release the connection (shared with the dead-letter queue, which closes with it)."""
