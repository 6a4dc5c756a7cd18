"""What a consumer did: counts per outcome, the dead letters, VLM usage; one log line per page
(``page.done``, ``page.skipped``, ``page.retry``, ``page.dead_lettered``), which carries the
batch's ``batch_id`` from the context the supervisor binds."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field

import structlog

from comicocr.consumer.acker import Action
from comicocr.contract import Done, Outcome, Throttled
from comicocr.idset import IdSet

log = structlog.get_logger("comicocr.consumer")


@dataclass
class Stats:
    started: float = field(default_factory=time.monotonic)
    received: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)  # done, skipped, retry, dead, ...
    dead: list[tuple[str, str, str]] = field(default_factory=list)  # (id, class, reason)
    vlm_tokens: int = 0  # as the answers reported them, usable or not (the service bills both)
    vlm_requests: int = 0  # every request sent, whatever became of its page
    vlm_answered: int = 0  # of those, the answers that became a result
    interrupted: bool = False  # stopped by a signal, not because the queue ran dry
    fatal: str | None = None  # why the consumer had to stop on its own (its queue is gone)
    # The ids of ``watch()`` not yet done nor dead here (an ``IdSet``: 25-50 bytes an id, for a
    # million-page run), and how many of them were dead-lettered.
    waiting: IdSet | None = None
    watched_dead: int = 0

    @property
    def elapsed_s(self) -> float:
        return time.monotonic() - self.started

    @property
    def settled_well(self) -> int:
        """Pages with a result now: done here, or found done."""
        return self.outcomes["done"] + self.outcomes["skipped"]

    @property
    def tokens_per_min(self) -> float:
        return self.vlm_tokens / max(self.elapsed_s, 1e-9) * 60

    def watch(self, ids: IdSet) -> None:
        """Track ``ids`` for ``settled()``: each is taken out of it as its page is done, found
        done or dead-lettered here; what is left is in ``waiting``."""
        self.waiting = ids

    def settled(self) -> bool:
        """Whether every page of ``watch()`` has a result or a dead letter."""
        return self.waiting is not None and not self.waiting

    def count_usage(self, outcome: Outcome) -> None:
        """Count what a page cost at a billed service: its requests, retries and failures
        included, and the tokens of its answer, used or not."""
        usage = None if isinstance(outcome, Throttled) else outcome.usage
        requests = outcome.requests
        if isinstance(outcome, Done) and usage and not requests:
            requests = 1  # from a worker older than the request count: its answer, at least
        self.vlm_requests += requests
        if isinstance(outcome, Done) and requests:
            self.vlm_answered += 1  # a page has one answer at most that it keeps
        total = usage.get("total_tokens") if usage else None
        self.vlm_tokens += int(total) if isinstance(total, int | float) else 0

    def record(self, action: Action) -> None:
        """Count an action the queue carried out."""
        label = action.status if action.kind == "delete" else action.kind
        self.outcomes[label] += 1
        settles = action.kind in ("delete", "dead") and action.canonical_id is not None
        if settles and self.waiting is not None and self.waiting.discard(action.canonical_id or ""):
            self.watched_dead += action.kind == "dead"
        if label == "done":
            log.info(
                "page.done",
                canonical_id=action.canonical_id,
                engine=action.engine,
                duration_s=round(action.duration_s, 3),
            )
        elif label == "skipped":
            log.info("page.skipped", canonical_id=action.canonical_id, engine=action.engine)
        elif action.kind == "dead":
            ident = action.canonical_id or f"message {action.message.id}"
            self.dead.append((ident, str(action.error_class), action.reason))
            log.warning(
                "page.dead_lettered",
                canonical_id=ident,
                engine=action.engine or None,
                error_class=str(action.error_class),
                reason=action.reason[:200],
            )
        elif action.kind == "retry":
            log.info(
                "page.retry",
                canonical_id=action.canonical_id,
                engine=action.engine or None,
                attempt=action.attempts,
                delay_s=action.delay_s,
                reason=action.reason[:200],
            )
