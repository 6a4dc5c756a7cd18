"""The long-running consumer: a few tasks with one job each.

- receive:   long-poll the queue into a bounded buffer (the buffer is the backpressure)
- batch:     once a dispatch slot is free (at most K batches at once), take what is waiting:
             when nothing runs, as soon as the receiver has caught up; else until the
             running batches end, the caps (``sizing.py``) or T seconds; so batches grow
             with the backlog (batcher.py)
- dispatch:  run the batch's chunks through Lithops in a thread
- ack:       delete / re-send / dead-letter in tens, shielded from cancellation
- heartbeat: keep extending the visibility of messages still held

``until_idle`` drains the queue and returns (backfills, tests, ``comicocr run``), or returns
as soon as every page of ``wanted`` has a result or is dead-lettered: messages another
(killed) run left in flight need not be waited out;
otherwise it runs until ``stop()`` (SIGTERM/SIGINT): stop receiving, hand back what
was not dispatched, finish the batches in flight, flush acks, return. A second
``stop()`` hands everything back at once and returns without waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from dataclasses import dataclass

import structlog

from comicocr.consumer import acker
from comicocr.consumer.batcher import next_batch
from comicocr.consumer.dispatch import Dispatcher, run_dispatches
from comicocr.consumer.metrics import ConsumerMetrics
from comicocr.consumer.planner import EngineCatalog, PageResult, plan
from comicocr.consumer.sizing import MAX_BATCH_BYTES, Sizing
from comicocr.consumer.stats import Stats
from comicocr.contract import Done, Throttled
from comicocr.idset import IdSet
from comicocr.messages import IMAGE_SUFFIXES
from comicocr.queues.base import MAX_BATCH, MAX_VISIBILITY_S, Message, Queue, QueueGone, in_tens
from comicocr.ratelimit import open_pacer
from comicocr.redact import redacted
from comicocr.settings import Settings

log = structlog.get_logger("comicocr.consumer")

__all__ = ["Consumer", "Stats"]


@dataclass
class _Held:
    message: Message
    received_at: float  # monotonic; SQS caps a message's total visibility at 12 h from receipt


class Consumer:
    """``engines`` answers what the planner asks of the engines (``comicocr.engines.CATALOG``)."""

    def __init__(
        self,
        queue: Queue,
        dispatcher: Dispatcher,
        settings: Settings,
        *,
        engines: EngineCatalog,
        until_idle: bool = False,
        wanted: IdSet | None = None,
    ) -> None:
        self.queue = queue
        self.dispatcher = dispatcher
        self.settings = settings
        self.engines = engines
        self.until_idle = until_idle
        self.wanted = wanted
        self.stats = Stats()
        self._wanted_pages = len(wanted) if wanted is not None else 0
        if until_idle and wanted is not None:
            self.stats.watch(wanted)
        self._buffer: asyncio.Queue[Message] = asyncio.Queue(maxsize=settings.buffer_size)
        self._held: dict[str, _Held] = {}  # receipt -> message, from receive until settled
        self._batches = asyncio.Semaphore(settings.max_inflight_batches)
        self._inflight: set[asyncio.Task[None]] = set()
        self._workers_idle = asyncio.Event()  # no batch in flight: the next one should not wait
        self._workers_idle.set()
        self.sizing = Sizing(settings)
        self._stopping = asyncio.Event()
        self._abort = asyncio.Event()
        self._drained = asyncio.Event()  # the last receive found the queue empty
        # the last receive got fewer messages than it asked for: what was waiting is held here
        self._caught_up = asyncio.Event()
        # This consumer's own VLM budget, or the one it shares with others through a store.
        self.pacer = open_pacer(settings)
        self.metrics = ConsumerMetrics(held=lambda: len(self._held), pacer=self.pacer)
        self.last_receive_at = time.monotonic()  # the receive loop's heartbeat (/healthz)
        self._batch_ids = itertools.count(1)

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    @property
    def backpressured(self) -> bool:
        """The buffer is full: receivers wait for room, which is no sign of a stuck loop."""
        return self._buffer.full()

    def receive_age_s(self) -> float:
        """Seconds since the receive loop last went round (a long poll counts as one round)."""
        return time.monotonic() - self.last_receive_at

    def stop(self, idle: bool = False) -> None:
        """Begin a graceful stop; a second call aborts (safe to call from a signal handler).
        ``idle``: the queue ran dry in until-idle mode, which is no interruption."""
        self.stats.interrupted = self.stats.interrupted or not idle
        if self._stopping.is_set() and not idle:  # running dry twice is no reason to abort
            log.warning("consumer.abort", held=len(self._held))
            self._abort.set()
        self._stopping.set()

    async def run(self) -> Stats:
        receivers = [asyncio.create_task(self._receive_loop()) for _ in range(self.settings.receivers)]
        tasks = [
            *receivers,
            asyncio.create_task(self._batch_loop()),
            asyncio.create_task(self._heartbeat_loop()),
        ]
        try:
            await self._stopping.wait()
            for task in tasks[:-1]:  # receivers and batcher; the heartbeat runs until the end
                task.cancel()
            drain = asyncio.create_task(self._drain())
            abort = asyncio.create_task(self._abort.wait())
            await asyncio.wait([drain, abort], return_when=asyncio.FIRST_COMPLETED)
            if not drain.done():
                drain.cancel()
                for batch in list(self._inflight):
                    batch.cancel()
                await self._hand_back()
            abort.cancel()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self.pacer.close()
        return self.stats

    # -- receive ---------------------------------------------------------------------
    async def _receive_loop(self) -> None:
        wait_s = min(self.settings.poll_wait_s, 1.0) if self.until_idle else self.settings.poll_wait_s
        failures = idle_polls = 0
        gone_since: float | None = None
        while not self._stopping.is_set():
            self.last_receive_at = time.monotonic()
            want = min(MAX_BATCH, self._buffer.maxsize - self._buffer.qsize())
            if want <= 0:
                await asyncio.sleep(0.05)  # buffer full: stop pulling, leave work on the queue
                continue
            try:
                messages = await self.queue.receive(want, wait_s, self.settings.visibility_timeout_s)
                failures, gone_since = 0, None
            except QueueGone as exc:
                self.metrics.receive_errors.inc()
                gone_since = gone_since or time.monotonic()
                if await self._found_again(exc, time.monotonic() - gone_since):
                    failures, gone_since = 0, None
                    continue
                failures += 1
                await asyncio.sleep(min(30.0, 0.5 * 2**failures))
                continue
            except Exception as exc:  # queue outage or throttling: back off and resume
                failures += 1
                self.metrics.receive_errors.inc()
                delay = min(30.0, 0.5 * 2**failures)
                log.warning("queue.receive_failed", error=redacted(exc), retry_in_s=delay)
                await asyncio.sleep(delay)
                continue
            if messages:
                self._drained.clear()
            else:
                self._drained.set()
            if len(messages) < want:
                self._caught_up.set()
            else:
                self._caught_up.clear()
            for message in messages:
                self._held[message.receipt] = _Held(message, time.monotonic())
                self.stats.received += 1
                await self._buffer.put(message)
            idle_polls = idle_polls + 1 if not messages and self.until_idle and await self._idle() else 0
            # Twice in a row: a server's approximate counts can miss messages whose visibility
            # just ran out (seen with LocalStack after a consumer was SIGKILLed).
            if idle_polls >= 2:
                log.info("consumer.idle", received=self.stats.received)
                self.stop(idle=True)

    async def _found_again(self, gone: QueueGone, gone_for_s: float) -> bool:
        """The queue vanished (deleted, or its server restarted empty). Make it again where its
        address says how; otherwise stop once it has been gone ``queue_gone_timeout_s``: a
        consumer of a queue that is not there must end, not poll it forever."""
        try:
            if await self.queue.recreate():
                log.warning("queue.recreated", queue=self.queue.address, reason=str(gone)[:200])
                return True
        except Exception as exc:  # the server is not answering yet: try again after a pause
            log.warning("queue.recreate_failed", queue=self.queue.address, error=redacted(exc))
            return False
        if gone_for_s >= self.settings.queue_gone_timeout_s:
            self.stats.fatal = f"{gone} (gone for {gone_for_s:.0f} s)"
            log.error("queue.gone", queue=self.queue.address, gone_for_s=round(gone_for_s))
            self.stop()
        else:
            log.warning("queue.gone", queue=self.queue.address, gone_for_s=round(gone_for_s))
        return False

    async def _idle(self) -> bool:
        if self._held or self._inflight:
            return False
        try:
            return (await self.queue.depths()).pending == 0
        except Exception:
            return False

    # -- batch and dispatch ----------------------------------------------------------
    async def _batch_loop(self) -> None:
        while True:
            await self._batches.acquire()  # a free slot first: the batch then takes what waits
            try:
                batch = await next_batch(
                    self._buffer,
                    self.sizing.batch_pages(),
                    self.settings.batch_window_s,
                    self._drained,
                    self._workers_idle,
                    self._caught_up,
                    weigh=lambda m: len(m.body),
                    max_weight=MAX_BATCH_BYTES,
                )
            except BaseException:
                self._batches.release()
                raise
            task = asyncio.create_task(self._run_batch(batch))
            self._inflight.add(task)
            self._workers_idle.clear()
            task.add_done_callback(self._batch_ended)

    def _batch_ended(self, task: asyncio.Task[None]) -> None:
        self._inflight.discard(task)
        if not self._inflight:
            self._workers_idle.set()

    async def _run_batch(self, batch: list[Message]) -> None:
        # Every log line of this batch (and of its pages) carries its id.
        with structlog.contextvars.bound_contextvars(batch_id=next(self._batch_ids)):
            await self._run_batch_logged(batch)

    async def _run_batch_logged(self, batch: list[Message]) -> None:
        try:
            await self._settle(await self._process(batch))
        except Exception as exc:  # a bug here must not kill the consumer: hand the batch back
            log.exception("batch.failed", error=redacted(exc))
            await self._settle([acker.Action("hand_back", m) for m in batch if m.receipt in self._held])
        finally:
            self._batches.release()

    async def _process(self, batch: list[Message]) -> list[acker.Action]:
        s = self.settings
        # In a thread: with a shared budget each booking is a round trip to its store.
        work = await asyncio.to_thread(plan, batch, s, self.pacer, self.engines, self.sizing.chunk_pages)
        if work.ignored:  # deleted with nothing to do: say so, or an upload just vanishes
            log.info(
                "event.ignored",
                objects=work.ignored[:10],
                count=len(work.ignored),
                reason=f"not an image: S3 events make pages of {' '.join(IMAGE_SUFFIXES)} objects only",
            )
        actions = [acker.poison(message, reason, cid) for message, reason, cid in work.poison]
        for message, pages in work.fan_out:  # an S3 event with several objects (or none)
            actions.append(await acker.fan_out(self.queue, message, pages))
        if not work.dispatches and not work.deferred:
            return actions
        started = time.monotonic()
        log.info(
            "batch.dispatched", pages=work.pages, chunks=len(work.dispatches), deferred=len(work.deferred)
        )
        # One dispatcher call for the whole batch: the localhost backend runs one job at a time.
        results = await run_dispatches(self.dispatcher, work.dispatches, s.workers, s.task_timeout_s)
        results += work.deferred
        for r in results:
            await self._account(r)
            if isinstance(r.outcome, Done):
                self.sizing.observe(r.engine, r.outcome.duration_s)
            actions.append(
                acker.decide(
                    r.message,
                    r.outcome,
                    engine=r.engine,
                    max_attempts=s.max_attempts,
                    backoff_base_s=s.backoff_base_s,
                )
            )
        seconds = time.monotonic() - started
        self.metrics.batch_seconds.observe(seconds)
        log.info("batch.done", pages=len(results), seconds=round(seconds, 3))
        return actions

    async def _account(self, result: PageResult) -> None:
        outcome = result.outcome
        self.stats.count_usage(outcome)  # every outcome: failed and throttled pages sent requests too
        if isinstance(outcome, Throttled) and outcome.pause:  # a shared pause is a store round trip
            await asyncio.to_thread(self.pacer.pause, outcome.retry_after_s or 300, outcome.pause)

    async def _settle(self, actions: list[acker.Action]) -> None:
        result = await acker.apply(self.queue, actions)
        now = time.monotonic()
        for action in result.unsettled:
            self._held.pop(action.message.receipt, None)
        for action in result.applied:
            held = self._held.pop(action.message.receipt, None)
            self.stats.record(action)
            self.metrics.settled(action, now - held.received_at if held else None)
        if self.until_idle and self.wanted is not None and self.stats.settled():
            log.info("consumer.wanted_settled", pages=self._wanted_pages)
            self.stop(idle=True)

    # -- heartbeat and shutdown --------------------------------------------------------
    async def _heartbeat_loop(self) -> None:
        """Every half timeout, push the visibility of every held message one timeout further,
        but never past SQS's 12-hour cap counted from the receive."""
        timeout = self.settings.visibility_timeout_s
        while True:
            await asyncio.sleep(timeout / 2)
            now = time.monotonic()
            items = []
            for receipt, held in list(self._held.items()):
                left = MAX_VISIBILITY_S - (now - held.received_at) - 60
                if left > 1:
                    items.append((receipt, int(min(timeout, left))))
            for group in in_tens(items):
                try:
                    await self.queue.change_visibility_batch(group)
                except Exception as exc:
                    log.warning("heartbeat.failed", count=len(group), error=redacted(exc))

    async def _drain(self) -> None:
        """Let batches in flight finish, then hand back everything else still held."""
        if self._inflight:
            await asyncio.wait(list(self._inflight))
        await self._hand_back()

    async def _hand_back(self) -> None:
        """Visibility 0 for every held message (buffered, or taken by a cancelled batch):
        another consumer takes them now, and no attempt is counted against them."""
        while not self._buffer.empty():
            self._buffer.get_nowait()
        leftover = [h.message for h in self._held.values()]
        if leftover:
            with contextlib.suppress(Exception):
                await self._settle([acker.Action("hand_back", m, status="handed_back") for m in leftover])
