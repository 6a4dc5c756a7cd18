"""The booking arithmetic (the generic cell-rate algorithm) and the pacer of one process.

A token bucket of depth one: requests leave evenly spaced and never in a burst that a
provider's sliding window would answer with 429s. Three times make the whole state of a
budget (``Slots``); ``book()`` turns a request into its send time and the next state. The
pacer of one process (``LocalPacer``) keeps the state in memory; the shared one
(``shared.py``) keeps it in a store, where the SQLite store runs this same function inside a
transaction and the Redis store runs its Lua twin (``redis_store.py``).

    pacer = LocalPacer(requests_per_min=20, tokens_per_min=100_000)
    send_at = pacer.reserve(tokens=4500)   # a time on pacer.clock
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import structlog

log = structlog.get_logger("comicocr.ratelimit")


@dataclass(frozen=True)
class Rates:
    """A budget's rates: seconds between two requests, and tokens per second (0: no token limit)."""

    request_interval: float
    tokens_per_s: float = 0.0

    @classmethod
    def per_min(cls, requests: float, tokens: int = 0) -> Rates:
        if requests <= 0:
            raise ValueError("requests_per_min must be positive")
        return cls(60.0 / requests, tokens / 60.0 if tokens > 0 else 0.0)


@dataclass(frozen=True)
class Slots:
    """A budget's state, as times on one clock: when the next request may go, when the token
    budget has room again, and until when a pause holds every booking back."""

    next_request: float = 0.0
    next_tokens: float = 0.0
    resume_at: float = 0.0


def book(slots: Slots, now: float, rates: Rates, tokens: int, lead_s: float) -> tuple[float, Slots]:
    """The earliest time, no sooner than ``now + lead_s``, at which both budgets allow a request
    of ``tokens``; and the state once it is booked."""
    at = max(now + lead_s, slots.next_request, slots.next_tokens, slots.resume_at)
    next_tokens = slots.next_tokens
    if rates.tokens_per_s:
        next_tokens = max(at, next_tokens) + tokens / rates.tokens_per_s
    return at, Slots(at + rates.request_interval, next_tokens, slots.resume_at)


def backlog(slots: Slots, now: float) -> float:
    """How far ahead slots are already booked: a pause counts (nothing goes before its end)."""
    return max(0.0, slots.next_request - now, slots.resume_at - now)


def paused(slots: Slots, now: float, seconds: float) -> Slots:
    return Slots(slots.next_request, slots.next_tokens, max(slots.resume_at, now + seconds))


class Pacer(Protocol):
    """Books VLM requests ahead. ``reserve`` returns the time (on this process's ``time.time``
    clock) at which the worker may send; ``pause`` holds every booking back (the provider said
    credits ran out, or kept answering 429); ``backlog_s`` says how far ahead slots are booked.
    The two counters are this process's, for the metrics. Called from worker threads (the
    planner runs in one): implementations are thread-safe."""

    reservations: int  # slots this process booked,
    wait_s_total: float  # and how long they wait beyond the lead time, all together

    def reserve(self, tokens: int = 0, lead_s: float = 0.0) -> float: ...

    def backlog_s(self) -> float: ...

    def backlog_seen_s(self) -> float:
        """``backlog_s`` as last seen, counted down since: no I/O (the metrics read it on the
        event loop)."""
        ...

    def pause(self, seconds: float, reason: str) -> None: ...

    def close(self) -> None: ...


def log_pause(reason: str, seconds: float, **where: str) -> None:
    # Credits that ran out need a person; a 429 that outlasted the worker's retries does not.
    say = log.error if reason == "payment_required" else log.warning
    say("vlm.paused", reason=reason, seconds=round(seconds), **where)


class LocalPacer:
    """The budget of this process alone (no store: ``COMICOCR_VLM_RATE_STORE`` empty)."""

    def __init__(
        self, requests_per_min: float, tokens_per_min: int = 0, clock: Callable[[], float] = time.time
    ) -> None:
        self.rates = Rates.per_min(requests_per_min, tokens_per_min)
        self.clock = clock
        self._slots = Slots()
        self._lock = threading.Lock()
        self.reservations = 0
        self.wait_s_total = 0.0

    def reserve(self, tokens: int = 0, lead_s: float = 0.0) -> float:
        """Book the next slot for a request of ``tokens``, no sooner than ``lead_s`` from now
        (the time the page needs to reach a worker); return when it may be sent."""
        with self._lock:
            now = self.clock()
            at, self._slots = book(self._slots, now, self.rates, tokens, lead_s)
            self.reservations += 1
            self.wait_s_total += at - (now + lead_s)
        return at

    def backlog_s(self) -> float:
        return backlog(self._slots, self.clock())

    def backlog_seen_s(self) -> float:
        return self.backlog_s()

    def pause(self, seconds: float, reason: str) -> None:
        """Book nothing for ``seconds`` (e.g. the provider answered 402: credits ran out)."""
        with self._lock:
            self._slots = paused(self._slots, self.clock(), seconds)
        log_pause(reason, seconds)

    def close(self) -> None:
        pass
