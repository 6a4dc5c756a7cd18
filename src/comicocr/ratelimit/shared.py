"""One VLM budget shared by every consumer of one API key, kept in a store they all reach.

Each consumer books its pages' slots in the store (Redis for several machines, a SQLite
file for one), in one atomic step, so N consumers together stay within the provider's
limit; a pause one of them books (402, or a 429 past the worker's retries) holds all of
them back.

**One clock.** The store books on its own clock (Redis: ``TIME`` inside the script; SQLite:
the one machine's) and answers the slot together with its own "now". The pacer turns the
slot into this process's clock as "now here + (slot - store's now)", with "now here" read
after the answer came: a slot can so be late by at most one round trip, never early, and
machines whose clocks disagree still space their requests right. (The worker then sleeps
until the slot on its own clock: the consumer's and the workers' clocks are assumed to agree,
as they were before; NTP makes it so.)

**A store that goes away.** A booking that fails raises ``RateStoreDown``; the planner hands
the page back as throttled (retried later, no attempt counted): a page is never sent
unbooked, never lost and never dead-lettered for it. For ``RETRY_S`` after a failure the
store is not asked again (the other pages of the batch are handed back at once, not after a
timeout each); then the next booking tries it again. A pause that cannot reach the store
still holds this consumer back.

**Names.** A budget's keys are namespaced by its name: ``COMICOCR_VLM_RATE_BUDGET``, else a
short hash of the API key and the base URL (``budget_name``). The key itself is never
written to the store, a log or an error.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

import structlog

from comicocr.ratelimit.gcra import Rates, log_pause

log = structlog.get_logger("comicocr.ratelimit")
T = TypeVar("T")

RETRY_S = 5.0  # after a failed booking, how long the store is left alone
HAND_BACK_S = 30.0  # a page that could not be booked comes back this much later


class RateStoreDown(Exception):
    """The store did not answer. Its text names the store (never a password) and the error."""

    retry_after_s = HAND_BACK_S


@dataclass(frozen=True)
class Booking:
    """A slot, and the store's clock when it was booked (both on the store's clock)."""

    at: float
    now: float


class BudgetStore(Protocol):
    """Where shared budgets live. Each method is one atomic step on the store's own clock and
    raises ``RateStoreDown`` when the store does not answer."""

    address: str  # for messages: no password

    def book(self, budget: str, rates: Rates, tokens: int, lead_s: float) -> Booking: ...

    def backlog_s(self, budget: str) -> float: ...

    def pause(self, budget: str, seconds: float) -> None: ...

    def ping(self) -> None: ...

    def close(self) -> None: ...


def budget_name(api_key: str, base_url: str) -> str:
    """A budget's default name: one per API key and endpoint, revealing neither (16 hex digits
    of a hash; the key is a long random secret, so its hash cannot be turned back)."""
    identity = f"comicocr-vlm-budget\0{base_url.rstrip('/')}\0{api_key}"
    return hashlib.sha256(identity.encode()).hexdigest()[:16]


class SharedPacer:
    """A ``Pacer`` whose bookings live in ``store`` under ``budget``."""

    def __init__(
        self,
        store: BudgetStore,
        budget: str,
        rates: Rates,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.budget = budget
        self.rates = rates
        self.clock = clock
        self.monotonic = monotonic
        self._lock = threading.Lock()
        self._down_until = 0.0  # monotonic: the store failed, leave it alone until then
        self._down_why = ""
        self._resume_at = 0.0  # a pause the store could not take: held here at least
        self._booked_until = 0.0  # the budget's next free slot when last seen, on this clock
        self.reservations = 0
        self.wait_s_total = 0.0

    def reserve(self, tokens: int = 0, lead_s: float = 0.0) -> float:
        """Book the budget's next slot (see ``LocalPacer.reserve``); ``RateStoreDown`` when the
        store cannot be reached."""
        # A pause only this consumer knows of (the store was down when it came) goes to the
        # store as a lead: its slots are then spaced after the pause, not all stacked on its end.
        lead_s = max(lead_s, self._resume_at - self.clock())
        booking = self._ask(lambda: self.store.book(self.budget, self.rates, tokens, lead_s))
        now = self.clock()
        at = max(now + (booking.at - booking.now), self._resume_at)
        self._booked_until = now + (booking.at - booking.now) + self.rates.request_interval
        with self._lock:
            self.reservations += 1
            self.wait_s_total += max(0.0, booking.at - booking.now - lead_s)
        return at

    def backlog_s(self) -> float:
        """How far ahead the budget is booked, by every consumer together."""
        seconds = max(self._ask(lambda: self.store.backlog_s(self.budget)), self._resume_at - self.clock())
        self._booked_until = self.clock() + seconds
        return seconds

    def backlog_seen_s(self) -> float:
        return max(0.0, self._booked_until - self.clock())

    def pause(self, seconds: float, reason: str) -> None:
        """Hold every consumer of the budget back for ``seconds``; a store that does not answer
        leaves the pause to this consumer alone (never an exception: it is called while
        outcomes are settled)."""
        self._resume_at = max(self._resume_at, self.clock() + seconds)
        try:
            self._ask(lambda: self.store.pause(self.budget, seconds))
        except RateStoreDown as exc:
            log.warning("vlm.pause_not_shared", budget=self.budget, error=str(exc))
        log_pause(reason, seconds, budget=self.budget)

    def close(self) -> None:
        self.store.close()

    def _ask(self, step: Callable[[], T]) -> T:
        if self.monotonic() < self._down_until:
            raise RateStoreDown(self._down_why)
        try:
            return step()
        except RateStoreDown as exc:
            self._down_until = self.monotonic() + RETRY_S
            self._down_why = str(exc)
            log.warning("vlm.rate_store_down", error=self._down_why, retry_in_s=RETRY_S)
            raise
