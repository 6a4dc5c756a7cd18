"""The long-running consumer: a few tasks with one job each.

- receive:   long-poll the queue into a bounded buffer (the buffer is the backpressure)
- batch:     take N pages or wait T seconds, whichever first, then dispatch
- dispatch:  run the batch's chunks through Lithops in a thread, at most K batches at once
- ack:       delete / re-send / dead-letter in tens, shielded from cancellation
- heartbeat: keep extending the visibility of messages still held

``until_idle`` drains the queue and returns (backfills, tests, ``comicocr run``);
otherwise it runs until ``stop()`` (SIGTERM/SIGINT): stop receiving, hand back what
was not dispatched, finish the batches in flight, flush acks, return. A second
``stop()`` hands everything back at once and returns without waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import structlog

from comicocr.consumer import acker
from comicocr.consumer.batcher import group_key, next_batch
from comicocr.consumer.dispatch import Chunk, Dispatcher, build_chunks, run_chunks
from comicocr.engines import is_paced
from comicocr.errors import ErrorClass, PoisonMessage
from comicocr.messages import PageMessage, parse_body
from comicocr.queues.base import MAX_BATCH, MAX_VISIBILITY_S, Message, Outgoing, Queue
from comicocr.ratelimit import Pacer, estimate_tokens
from comicocr.redact import redact
from comicocr.settings import Settings

log = structlog.get_logger("comicocr.consumer")

__all__ = ["Consumer", "Dispatcher", "Stats"]


@dataclass
class Stats:
    started: float = field(default_factory=time.monotonic)
    received: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)  # done, skipped, retry, dead, ...
    dead: list[tuple[str, str, str]] = field(default_factory=list)  # (id, class, reason)
    vlm_tokens: int = 0
    vlm_requests: int = 0
    interrupted: bool = False  # stopped by a signal, not because the queue ran dry
    finished_ids: set[str] | None = None  # ids whose result exists now; kept only in until-idle runs

    @property
    def elapsed_s(self) -> float:
        return time.monotonic() - self.started

    @property
    def tokens_per_min(self) -> float:
        return self.vlm_tokens / max(self.elapsed_s, 1e-9) * 60


@dataclass
class _Held:
    message: Message
    received_at: float  # monotonic; SQS caps a message's total visibility at 12 h from receipt


class Consumer:
    def __init__(
        self, queue: Queue, dispatcher: Dispatcher, settings: Settings, *, until_idle: bool = False
    ) -> None:
        self.queue = queue
        self.dispatcher = dispatcher
        self.settings = settings
        self.until_idle = until_idle
        self.stats = Stats(finished_ids=set() if until_idle else None)
        self._buffer: asyncio.Queue[Message] = asyncio.Queue(maxsize=settings.buffer_size)
        self._held: dict[str, _Held] = {}  # receipt -> message, from receive until settled
        self._batches = asyncio.Semaphore(settings.max_inflight_batches)
        self._inflight: set[asyncio.Task[None]] = set()
        self._stopping = asyncio.Event()
        self._abort = asyncio.Event()
        self._drained = asyncio.Event()  # the last receive found the queue empty
        self.pacer = Pacer(settings.vlm_requests_per_min, settings.vlm_tokens_per_min)

    def stop(self, idle: bool = False) -> None:
        """Begin a graceful stop; a second call aborts (safe to call from a signal handler).
        ``idle``: the queue ran dry in until-idle mode, which is no interruption."""
        self.stats.interrupted = self.stats.interrupted or not idle
        if self._stopping.is_set():
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
        return self.stats

    # -- receive ---------------------------------------------------------------------
    async def _receive_loop(self) -> None:
        wait_s = min(self.settings.poll_wait_s, 1.0) if self.until_idle else self.settings.poll_wait_s
        failures = 0
        while not self._stopping.is_set():
            want = min(MAX_BATCH, self._buffer.maxsize - self._buffer.qsize())
            if want <= 0:
                await asyncio.sleep(0.05)  # buffer full: stop pulling, leave work on the queue
                continue
            try:
                messages = await self.queue.receive(want, wait_s, self.settings.visibility_timeout_s)
                failures = 0
            except Exception as exc:  # queue outage or throttling: back off and resume
                failures += 1
                delay = min(30.0, 0.5 * 2**failures)
                log.warning("queue.receive_failed", error=redact(str(exc))[:200], retry_in_s=delay)
                await asyncio.sleep(delay)
                continue
            if messages:
                self._drained.clear()
            else:
                self._drained.set()
            for message in messages:
                self._held[message.receipt] = _Held(message, time.monotonic())
                self.stats.received += 1
                await self._buffer.put(message)
            if not messages and self.until_idle and await self._idle():
                log.info("consumer.idle", received=self.stats.received)
                self.stop(idle=True)

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
            batch = await next_batch(
                self._buffer, self.settings.batch_size, self.settings.batch_window_s, self._drained
            )
            await self._batches.acquire()
            task = asyncio.create_task(self._run_batch(batch))
            self._inflight.add(task)
            task.add_done_callback(self._inflight.discard)

    def _page_spec(self, page: PageMessage) -> dict[str, Any]:
        s = self.settings
        name = page.method or s.method
        options = dict(page.options or s.engine_options)
        if is_paced(name):  # the VLM settings reach the engine as options, not environment
            defaults = {"model": s.vlm_model, "base_url": s.vlm_base_url}
            options = {**{k: v for k, v in defaults.items() if v}, **options}
        return {
            "engine": {
                "name": name,
                "options": options,
                "lang": page.lang or s.lang,
                "gpu": s.gpu,
            },
            "direction": s.reading_direction,
            "output": page.output or s.output,
            "skip_existing": s.skip_existing,
            "max_image_bytes": s.max_image_bytes,
            "max_image_pixels": s.max_image_pixels,
            "allowed_roots": s.allowed_roots,
            "allow_http": s.allow_http,
        }

    async def _run_batch(self, batch: list[Message]) -> None:
        try:
            actions = await self._process(batch)
            await self._settle(actions)
        except Exception as exc:  # a bug here must not kill the consumer: hand the batch back
            log.exception("batch.failed", error=redact(str(exc))[:200])
            await self._settle([acker.Action("release", m) for m in batch if m.receipt in self._held])
        finally:
            self._batches.release()

    async def _process(self, batch: list[Message]) -> list[acker.Action]:
        actions: list[acker.Action] = []
        work: list[tuple[Message, PageMessage, dict[str, Any]]] = []
        for message in batch:
            try:
                pages = parse_body(message.body)
            except PoisonMessage as exc:
                attempts = acker.attempts_of(message) + 1
                actions.append(acker.Action("dead", message, None, ErrorClass.POISON, str(exc), attempts))
                continue
            if len(pages) == 1:
                work.append((message, pages[0], self._page_spec(pages[0])))
            else:  # an S3 event with several objects (or none): one message per page, then drop it
                actions.append(await self._fan_out(message, pages))
        if not work:
            return actions
        s = self.settings
        paced = [w for w in work if is_paced(w[2]["engine"]["name"])]
        plain = [w for w in work if not is_paced(w[2]["engine"]["name"])]
        paced_chunks, deferred = self._schedule(paced)
        chunks = build_chunks(plain, s.workers, s.max_chunk) + paced_chunks
        started = time.monotonic()
        log.info("batch.dispatched", pages=len(work), chunks=len(chunks), vlm_pages=len(paced))
        # One Lithops job for the whole batch: the localhost backend runs one job at a time.
        results = await run_chunks(self.dispatcher, chunks, s.workers, s.task_timeout_s) + deferred
        for message, _page, spec, outcome in results:
            self._account(outcome)
            actions.append(
                acker.decide(
                    message,
                    outcome,
                    engine=spec["engine"]["name"],
                    max_attempts=s.max_attempts,
                    backoff_base_s=s.backoff_base_s,
                )
            )
        log.info("batch.done", pages=len(work), seconds=round(time.monotonic() - started, 3))
        return actions

    def _schedule(
        self, paced: list[tuple[Message, PageMessage, dict[str, Any]]]
    ) -> tuple[list[Chunk], list[Any]]:
        """Book a slot for each VLM page and pack them, ``vlm_max_concurrent`` to a chunk.

        Pages whose slot would fall past half the task timeout are not sent now: they come
        back later as throttled (no attempt counted), so no Lithops call outlives its timeout.
        """
        s = self.settings
        horizon = s.task_timeout_s / 2
        scheduled: list[tuple[tuple[Message, PageMessage, dict[str, Any]], float]] = []
        deferred = []
        for item in paced:
            options = item[2]["engine"]["options"]
            if self.pacer.backlog_s() > horizon:
                outcome = {
                    "status": "error",
                    "error_class": "retryable",
                    "canonical_id": item[1].canonical_id,
                    "error": "VLM budget booked ahead",
                    "throttled": True,
                    "retry_after_s": self.pacer.backlog_s(),
                }
                deferred.append((*item, outcome))
                continue
            tokens = estimate_tokens(int(options.get("max_side", 1600)), int(options.get("max_tokens", 2048)))
            scheduled.append((item, self.pacer.reserve(tokens, lead_s=s.vlm_dispatch_lead_s)))
        chunks = []
        by_spec: dict[str, list[tuple[tuple[Message, PageMessage, dict[str, Any]], float]]] = {}
        for entry in scheduled:
            by_spec.setdefault(group_key(entry[0][2]), []).append(entry)
        for group in by_spec.values():
            for start in range(0, len(group), s.vlm_max_concurrent):
                part = group[start : start + s.vlm_max_concurrent]
                items = [(m, p) for (m, p, _), _at in part]
                chunks.append(Chunk(part[0][0][2], items, [at for _, at in part]))
        return chunks, deferred

    def _account(self, outcome: dict[str, Any]) -> None:
        usage = outcome.get("usage")
        if usage:
            self.stats.vlm_requests += 1
            self.stats.vlm_tokens += int(usage.get("total_tokens") or 0)
        if outcome.get("pause"):
            self.pacer.pause(float(outcome.get("retry_after_s") or 300), str(outcome["pause"]))

    async def _fan_out(self, message: Message, pages: list[PageMessage]) -> acker.Action:
        for start in range(0, len(pages), MAX_BATCH):
            group = pages[start : start + MAX_BATCH]
            if await self.queue.send_batch([Outgoing(p.to_body()) for p in group]):
                # Keep the event; it comes back after its visibility timeout. Pages already
                # sent may then be sent twice: results are idempotent, so that is harmless.
                return acker.Action("release", message, status="fan_out_failed")
        return acker.Action("delete", message, status="fanned_out" if pages else "empty")

    async def _settle(self, actions: list[acker.Action]) -> None:
        result = await acker.apply(self.queue, actions)
        for action in result.applied + result.unsettled:
            self._held.pop(action.message.receipt, None)
        for action in result.applied:
            label = action.status if action.kind == "delete" else action.kind
            self.stats.outcomes[label] += 1
            if label in ("done", "skipped") and action.canonical_id and self.stats.finished_ids is not None:
                self.stats.finished_ids.add(action.canonical_id)
            if action.kind == "dead":
                ident = action.canonical_id or f"message {action.message.id}"
                self.stats.dead.append((ident, str(action.error_class), action.reason))
                log.warning(
                    "page.dead_lettered",
                    id=ident,
                    error_class=str(action.error_class),
                    reason=action.reason[:200],
                )
            elif action.kind == "retry":
                log.info(
                    "page.retry",
                    id=action.canonical_id,
                    attempt=action.attempts,
                    delay_s=action.delay_s,
                    reason=action.reason[:200],
                )

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
            for start in range(0, len(items), MAX_BATCH):
                group = items[start : start + MAX_BATCH]
                try:
                    await self.queue.change_visibility_batch(group)
                except Exception as exc:
                    log.warning("heartbeat.failed", count=len(group), error=redact(str(exc))[:200])

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
                await self._settle([acker.Action("release", m, status="handed_back") for m in leftover])
