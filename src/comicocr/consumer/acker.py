"""Decide and apply what happens to each received message after its page was tried.

Every received message ends exactly one way per receipt:
- ``delete``  - result written (or already there), or nothing to do;
- ``retry``   - re-sent with its failed-attempt count + 1 and a growing delay, then
                deleted (send first: a crash in between duplicates, never loses);
- ``dead``    - sent to the DLQ with the reason, then deleted;
- ``hand_back`` - visible again at once (visibility 0), no attempt counted (shutdown, a
                bug in the consumer, an event whose fan-out failed).

The pipeline counts failed attempts itself (the ``comicocr-attempts`` attribute)
instead of trusting ``ApproximateReceiveCount``, which also counts shutdowns and
redeliveries that were never failures. Attempts count since the page's last stay in the
DLQ: a redriven message comes back with its dead-letter attributes (whichever way it was
moved), and the consumer starts its count again while it carries them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Literal

import structlog

from comicocr.contract import Done, Failed, Outcome, Skipped, Throttled
from comicocr.errors import ErrorClass
from comicocr.messages import EventItem, RefusedRecord
from comicocr.queues.base import MAX_DELAY_S, Message, Outgoing, Queue, in_tens
from comicocr.redact import redact, redacted

ATTEMPTS_ATTR = "comicocr-attempts"
# What a dead letter gains besides its attempts (``_dead_letter``). Only the DLQ writes these,
# so a message in the main queue that carries them was redriven as it was, and a retry's
# re-send drops them: from then on its attempts count as usual.
DEAD_LETTER_ATTRS = (
    "comicocr-error-class",
    "comicocr-error",
    "comicocr-engine",
    "comicocr-failed-at",
    "comicocr-message-id",
)
_REDRIVEN_MARKERS = ("comicocr-error-class", "comicocr-failed-at")
log = structlog.get_logger("comicocr.acker")

Kind = Literal["delete", "retry", "dead", "hand_back"]


@dataclass(frozen=True)
class Action:
    kind: Kind
    message: Message
    canonical_id: str | None = None
    error_class: ErrorClass | None = None
    reason: str = ""
    attempts: int = 0
    delay_s: int = 0
    engine: str = ""
    status: str = "done"  # for delete: done / skipped / fanned_out / empty
    duration_s: float = 0.0  # the engine's time on the page (done)


def poison(message: Message, reason: str, canonical_id: str | None = None) -> Action:
    """A message that is unparseable or asks for what it may not: to the DLQ at once, never retried."""
    return Action("dead", message, canonical_id, ErrorClass.POISON, reason, attempts_of(message) + 1)


async def fan_out(queue: Queue, message: Message, items: list[EventItem]) -> Action:
    """An S3 event naming several objects (or none): one message per page, and one per record
    it refused (a one-record event, dead-lettered on its own when it comes back), then drop the
    event. Each record so gets its own outcome: one bad key does not take the others with it."""
    for group in in_tens(items):
        if (await queue.send_batch([_fanned(item) for item in group])).failed:
            # Keep the event; it comes back after its visibility timeout. Pages already
            # sent may then be sent twice: results are idempotent, so that is harmless.
            return Action("hand_back", message, status="fan_out_failed")
    return Action("delete", message, status="fanned_out" if items else "empty")


def _fanned(item: EventItem) -> Outgoing:
    if isinstance(item, RefusedRecord):
        return item.to_outgoing()
    first = item.to_outgoing()
    # Deduplicated by the object too, not by the id alone: a second object mapping to an id
    # already waiting must arrive, to be reported as the collision it is, not dropped.
    return replace(first, dedup_id=f"{first.dedup_id}\n{item.image_path}")


def attempts_of(message: Message) -> int:
    """Failed attempts since the page's last dead-lettering: 0 for a redriven message that
    still carries its dead-letter attributes (its ``comicocr-attempts`` is how many it died with)."""
    if any(name in message.attributes for name in _REDRIVEN_MARKERS):
        return 0
    try:
        return max(0, int(message.attributes.get(ATTEMPTS_ATTR, "0")))
    except ValueError:
        return 0


def backoff_s(attempt: int, base_s: int) -> int:
    """Delay before the ``attempt``-th retry: base, 2x base, 4x base..., capped at SQS's 900 s."""
    return int(min(MAX_DELAY_S, base_s * 2 ** max(0, attempt - 1)))


def decide(
    message: Message, outcome: Outcome, *, engine: str, max_attempts: int, backoff_base_s: int
) -> Action:
    """Map one page outcome from a worker to what happens to its message (pure logic)."""
    cid = outcome.canonical_id
    match outcome:
        case Done():
            return Action("delete", message, cid, status="done", engine=engine, duration_s=outcome.duration_s)
        case Skipped():
            return Action("delete", message, cid, status="skipped", engine=engine)
        case Throttled():
            # Throttling is the service's state, not the page's fault: retry later, count nothing.
            delay = int(min(MAX_DELAY_S, max(1, outcome.retry_after_s or backoff_base_s or 1)))
            reason = redact(outcome.error or "throttled")
            return Action(
                "retry", message, cid, ErrorClass.RETRYABLE, reason, attempts_of(message), delay, engine
            )
        case Failed():
            return _failed(message, outcome, engine, max_attempts, backoff_base_s)


def _failed(message: Message, outcome: Failed, engine: str, max_attempts: int, backoff_base_s: int) -> Action:
    cid, error_class = outcome.canonical_id, outcome.error_class
    reason = redact(outcome.error or "unknown error")
    attempts = attempts_of(message) + 1
    if error_class is ErrorClass.RETRYABLE:
        if attempts >= max_attempts:
            return Action("dead", message, cid, ErrorClass.EXHAUSTED, reason, attempts, engine=engine)
        return Action(
            "retry", message, cid, error_class, reason, attempts, backoff_s(attempts, backoff_base_s), engine
        )
    return Action("dead", message, cid, error_class, reason, attempts, engine=engine)


def _dead_letter(action: Action) -> Outgoing:
    attrs = {  # a fresh set (the message's own are dropped): ATTEMPTS_ATTR + DEAD_LETTER_ATTRS
        ATTEMPTS_ATTR: str(action.attempts),
        "comicocr-error-class": str(action.error_class),
        "comicocr-error": action.reason[:1000],
        "comicocr-engine": action.engine or "-",
        "comicocr-failed-at": datetime.now(UTC).isoformat(timespec="seconds"),
        "comicocr-message-id": action.message.id,
    }
    return Outgoing(action.message.body, attrs)


def _retry(action: Action) -> Outgoing:
    # A redriven message's first retry drops its dead-letter attributes, or every retry
    # would count from zero again and the page would never reach the DLQ.
    kept = {k: v for k, v in action.message.attributes.items() if k not in DEAD_LETTER_ATTRS}
    attrs = {
        **kept,
        ATTEMPTS_ATTR: str(action.attempts),
        "comicocr-last-error": action.reason[:500],
    }
    return Outgoing(action.message.body, attrs, action.delay_s)


@dataclass
class AckResult:
    applied: list[Action] = field(default_factory=list)
    unsettled: list[Action] = field(default_factory=list)  # left for redelivery after a queue error


async def apply(queue: Queue, actions: list[Action]) -> AckResult:
    """Carry the actions out in batches of ten, shielded from cancellation: once a page's
    result is written, its delete must not be lost to a shutdown."""
    return await asyncio.shield(_apply(queue, actions))


_CONCURRENT_CALLS = 8  # batch calls in flight at once: acks keep up with a fast consumer


async def _call_in_tens(
    actions: list[Action], call: Callable[[list[Action]], Awaitable[list[int]]], what: str
) -> tuple[list[Action], list[Action]]:
    """Run ``call`` over ``actions`` ten at a time, several calls at once; return (done, failed).
    A call that raises fails its whole group: those messages reappear after their visibility."""
    gate = asyncio.Semaphore(_CONCURRENT_CALLS)

    async def one(group: list[Action]) -> list[int]:
        async with gate:
            try:
                return await call(group)
            except Exception as exc:
                log.warning(f"ack.{what}_failed", count=len(group), error=redacted(exc))
                return list(range(len(group)))

    groups = in_tens(actions)
    results = await asyncio.gather(*(one(g) for g in groups))
    done, failed = [], []
    for group, bad in zip(groups, results, strict=True):
        done += [a for i, a in enumerate(group) if i not in set(bad)]
        failed += [a for i, a in enumerate(group) if i in set(bad)]
    return done, failed


async def _apply(queue: Queue, actions: list[Action]) -> AckResult:
    out = AckResult()

    async def dead(group: list[Action]) -> list[int]:
        return (await queue.dead_letters.send_batch([_dead_letter(a) for a in group])).failed

    async def resend(group: list[Action]) -> list[int]:
        return (await queue.send_batch([_retry(a) for a in group])).failed

    async def delete(group: list[Action]) -> list[int]:
        return await queue.delete_batch([a.message.receipt for a in group])

    async def hand_back(group: list[Action]) -> list[int]:
        return await queue.change_visibility_batch([(a.message.receipt, a.delay_s) for a in group])

    retries = [a for a in actions if a.kind == "retry"]
    # A retry that counts no attempt (throttling) needs no new attributes: where the queue
    # cannot delay a message (FIFO), the original is held back by its visibility instead, or
    # it would come straight back, again and again, while the service is throttling.
    held = [] if queue.delays_messages else [a for a in retries if a.attempts == attempts_of(a.message)]
    held_ids = {id(a) for a in held}
    resent = [a for a in retries if id(a) not in held_ids]
    # Forward first (DLQ or re-send); only what was forwarded gets deleted.
    (dead_ok, dead_bad), (retry_ok, retry_bad) = await asyncio.gather(
        _call_in_tens([a for a in actions if a.kind == "dead"], dead, "dead_letter"),
        _call_in_tens(resent, resend, "resend"),
    )
    deleted, undeleted = await _call_in_tens(
        [a for a in actions if a.kind == "delete"] + dead_ok + retry_ok, delete, "delete"
    )
    handed, not_handed = await _call_in_tens(
        [a for a in actions if a.kind == "hand_back"] + held, hand_back, "hand_back"
    )
    out.applied = deleted + handed
    out.unsettled = dead_bad + retry_bad + undeleted + not_handed
    return out
