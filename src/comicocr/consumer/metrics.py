"""The consumer's Prometheus metrics: what it settled, how long it took, what it holds.

One registry per consumer (not prometheus_client's global one), so two consumers in one
process or one test never add to each other's counters. Counting costs a dict lookup and an
add per page; gauges that can be read off the consumer (pages held, the VLM limiter's
booking) are read at scrape time instead of being kept up to date::

    metrics = ConsumerMetrics(held=lambda: len(consumer._held), pacer=consumer.pacer)
    metrics.settled(action, seconds_since_receive)
    text = metrics.render()          # what GET /metrics serves
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from comicocr.consumer.acker import Action, attempts_of
from comicocr.queues.base import QueueStats
from comicocr.ratelimit import Pacer

# Seconds: a batch runs from well under a second (null engine) to the task timeout (600 s).
_BATCH_BUCKETS = (0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800)
# Seconds from receive to settle for one page: the batch window plus its batch.
_PAGE_BUCKETS = (0.5, 1, 2, 3, 5, 10, 20, 30, 60, 120, 300, 600, 1800, 3600)
# An engine's own time on one page: 0.1 s (Tesseract, small) to a minute (a VLM).
_ENGINE_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 20, 60, 120)


def outcome_label(action: Action) -> str:
    """What became of a page, as the ``outcome`` label: done, skipped, retried, throttled,
    dead_lettered, handed_back (or fanned_out / empty for S3 events)."""
    if action.kind == "delete":
        return action.status
    if action.kind == "retry":
        # A throttled page is re-sent without a failed attempt counted against it.
        return "throttled" if action.attempts == attempts_of(action.message) else "retried"
    if action.kind == "dead":
        return "dead_lettered"
    return "handed_back"


class _PacerCollector(Collector):
    """The VLM limiter's own counters, read when scraped."""

    def __init__(self, pacer: Pacer) -> None:
        self.pacer = pacer

    def collect(self) -> Iterator[Metric]:
        booked = CounterMetricFamily(
            "comicocr_vlm_limiter_reservations", "VLM requests booked in the rate limiter"
        )
        booked.add_metric([], self.pacer.reservations)
        yield booked
        wait = CounterMetricFamily(
            "comicocr_vlm_limiter_wait_seconds",
            "Total time VLM requests were booked to wait for the rate limit (divide by reservations)",
        )
        wait.add_metric([], self.pacer.wait_s_total)
        yield wait


class ConsumerMetrics:
    def __init__(self, held: Callable[[], int], pacer: Pacer) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.pages = Counter(
            "comicocr_pages", "Pages settled, by outcome and engine", ["outcome", "engine"], registry=r
        )
        self.batch_seconds = Histogram(
            "comicocr_batch_duration_seconds",
            "One micro-batch from dispatch to its last outcome",
            buckets=_BATCH_BUCKETS,
            registry=r,
        )
        self.page_seconds = Histogram(
            "comicocr_page_latency_seconds",
            "One page from receive to settled (result written and message deleted, or dead-lettered)",
            buckets=_PAGE_BUCKETS,
            registry=r,
        )
        self.engine_seconds = Histogram(
            "comicocr_engine_page_seconds",
            "An engine's own time on one page, as the worker measured it",
            ["engine"],
            buckets=_ENGINE_BUCKETS,
            registry=r,
        )
        in_flight = Gauge("comicocr_pages_in_flight", "Pages received and not yet settled", registry=r)
        in_flight.set_function(held)
        backlog = Gauge(
            "comicocr_vlm_limiter_backlog_seconds", "How far ahead VLM request slots are booked", registry=r
        )
        backlog.set_function(pacer.backlog_seen_s)  # no round trip to a shared budget's store
        r.register(_PacerCollector(pacer))
        self.queue_messages = Gauge(
            "comicocr_queue_messages",
            "Messages in the queue by state (visible, in_flight, delayed, dead_lettered)",
            ["state"],
            registry=r,
        )
        self.oldest_age = Gauge(
            "comicocr_queue_oldest_message_age_seconds",
            "Age of the oldest message waiting (NaN where the queue cannot tell)",
            registry=r,
        )
        self.receive_errors = Counter(
            "comicocr_queue_receive_errors", "Receives that failed (outage or throttling)", registry=r
        )

    def settled(self, action: Action, since_receive_s: float | None) -> None:
        """Count one page (message) the queue has settled."""
        self.pages.labels(outcome_label(action), action.engine or "-").inc()
        if since_receive_s is not None:
            self.page_seconds.observe(since_receive_s)
        if action.kind == "delete" and action.status == "done" and action.duration_s:
            self.engine_seconds.labels(action.engine or "-").observe(action.duration_s)

    def queue_seen(self, stats: QueueStats) -> None:
        d = stats.depths
        for state, n in (
            ("visible", d.visible),
            ("in_flight", d.in_flight),
            ("delayed", d.delayed),
            ("dead_lettered", d.dead),
        ):
            self.queue_messages.labels(state).set(n)
        self.oldest_age.set(float("nan") if stats.oldest_age_s is None else stats.oldest_age_s)

    def render(self) -> bytes:
        return generate_latest(self.registry)
