"""Pacing for vision-language-model work: requests per minute and tokens per minute.

A VLM page leaves for Lithops only with its slot reserved: ``reserve()`` books the
earliest time at which both budgets allow the request, and the worker sends the
request at that time. Booking ahead (instead of waiting here) lets one Lithops call
carry many paced pages, which matters where Lithops runs one job at a time (the
localhost backend) and costs nothing where it does not.

This is the generic cell-rate algorithm: a token bucket of depth one, so requests
leave evenly spaced and never in a burst that a provider's sliding window would
answer with 429s. ``clock`` is injectable for tests.

    pacer = Pacer(requests_per_min=20, tokens_per_min=100_000)
    send_at = pacer.reserve(tokens=4500)   # a time on pacer.clock

How many tokens a page books is the engine's to say (``Engine.request_tokens``).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import structlog

log = structlog.get_logger("comicocr.ratelimit")


class Pacer:
    def __init__(
        self, requests_per_min: float, tokens_per_min: int = 0, clock: Callable[[], float] = time.time
    ) -> None:
        if requests_per_min <= 0:
            raise ValueError("requests_per_min must be positive")
        self.request_interval = 60.0 / requests_per_min
        self.tokens_per_s = tokens_per_min / 60.0 if tokens_per_min > 0 else 0.0
        self.clock = clock
        self._next_request = 0.0  # earliest time the next request may go
        self._next_tokens = 0.0  # earliest time the token budget has room again
        self._resume_at = 0.0
        self.reservations = 0  # for the metrics: how many slots were booked,
        self.wait_s_total = 0.0  # and how long they wait beyond the lead time, all together

    def reserve(self, tokens: int = 0, lead_s: float = 0.0) -> float:
        """Book the next slot for a request of ``tokens``, no sooner than ``lead_s`` from now
        (the time the page needs to reach a worker); return when it may be sent."""
        now = self.clock()
        at = max(now + lead_s, self._next_request, self._next_tokens, self._resume_at)
        self.reservations += 1
        self.wait_s_total += at - (now + lead_s)
        self._next_request = at + self.request_interval
        if self.tokens_per_s:
            self._next_tokens = max(at, self._next_tokens) + tokens / self.tokens_per_s
        return at

    def backlog_s(self) -> float:
        """How far ahead slots are already booked."""
        return max(0.0, self._next_request - self.clock())

    def pause(self, seconds: float, reason: str) -> None:
        """Book nothing for ``seconds`` (e.g. the provider answered 402: credits ran out)."""
        self._resume_at = max(self._resume_at, self.clock() + seconds)
        log.error("vlm.paused", reason=reason, seconds=round(seconds))
