"""The long-running consumer: a few tasks with one job each.

- receive:   long-poll the queue into a bounded buffer (the buffer is the backpressure)
- batch:     take N pages or wait T seconds, whichever first, then dispatch
- dispatch:  run the batch's chunks through Lithops in a thread, at most K batches at once
- ack:       delete / re-send / dead-letter in tens, shielded from cancellation
- heartbeat: keep extending the visibility of messages still held

``until_idle`` drains the queue and returns (backfills, tests, ``comicocr run``);
otherwise it runs until ``stop()`` (SIGTERM/SIGINT): stop receiving, hand back
what was not dispatched, finish the batches in flight, flush acks, return.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Protocol

import structlog

from comicocr.consumer import acker
from comicocr.consumer.batcher import group_key, next_batch, split_evenly
from comicocr.errors import ErrorClass, PoisonMessage
from comicocr.messages import PageMessage, parse_body
from comicocr.queues.base import Message, Outgoing, Queue
from comicocr.redact import redact
from comicocr.settings import Settings

log = structlog.get_logger("comicocr.consumer")


class Dispatcher(Protocol):
    def run_chunks(self, chunks: list[dict[str, Any]]) -> list[list[dict[str, Any]]]: ...


@dataclass
class Stats:
    started: float = field(default_factory=time.monotonic)
    received: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)  # done, skipped, retry, dead, ...
    dead: list[tuple[str, str, str]] = field(default_factory=list)  # (id, class, reason)

    @property
    def elapsed_s(self) -> float:
        return time.monotonic() - self.started


class Consumer:
    def __init__(
        self, queue: Queue, dispatcher: Dispatcher, settings: Settings, *, until_idle: bool = False
    ) -> None:
        self.queue = queue
        self.dispatcher = dispatcher
        self.settings = settings
        self.until_idle = until_idle
        self.stats = Stats()
        self._buffer: asyncio.Queue[Message] = asyncio.Queue(maxsize=settings.buffer_size)
        self._held: dict[str, Message] = {}  # receipt -> message, from receive until settled
        self._batches = asyncio.Semaphore(settings.max_inflight_batches)
        self._inflight: set[asyncio.Task[None]] = set()
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        """Begin a graceful stop (safe to call from a signal handler)."""
        self._stopping.set()

    async def run(self) -> Stats:
        async with asyncio.TaskGroup() as group:
            receiver = group.create_task(self._receive_loop())
            batcher = group.create_task(self._batch_loop())
            heartbeat = group.create_task(self._heartbeat_loop())
            await self._stopping.wait()
            receiver.cancel()
            batcher.cancel()
            await self._drain()
            heartbeat.cancel()
        return self.stats

    # -- receive ---------------------------------------------------------------------
    async def _receive_loop(self) -> None:
        wait_s = min(self.settings.poll_wait_s, 1.0) if self.until_idle else self.settings.poll_wait_s
        failures = 0
        while not self._stopping.is_set():
            want = min(10, self._buffer.maxsize - self._buffer.qsize())
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
            for message in messages:
                self._held[message.receipt] = message
                self.stats.received += 1
                await self._buffer.put(message)
            if not messages and self.until_idle and await self._idle():
                log.info("consumer.idle", received=self.stats.received)
                self.stop()

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
            batch = await next_batch(self._buffer, self.settings.batch_size, self.settings.batch_window_s)
            await self._batches.acquire()
            task = asyncio.create_task(self._run_batch(batch))
            self._inflight.add(task)
            task.add_done_callback(self._inflight.discard)

    def _page_spec(self, page: PageMessage) -> dict[str, Any]:
        s = self.settings
        return {
            "engine": {
                "name": page.method or s.method,
                "options": page.options or s.engine_options,
                "lang": page.lang or s.lang,
                "gpu": s.gpu,
            },
            "direction": s.reading_direction,
            "output": page.output or s.output,
            "skip_existing": s.skip_existing,
            "max_image_bytes": s.max_image_bytes,
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
        groups: dict[str, tuple[dict[str, Any], list[tuple[Message, PageMessage]]]] = {}
        for message in batch:
            try:
                pages = parse_body(message.body)
            except PoisonMessage as exc:
                actions.append(
                    acker.Action(
                        "dead", message, None, ErrorClass.POISON, str(exc), acker.attempts_of(message) + 1
                    )
                )
                continue
            if len(pages) == 1:
                spec = self._page_spec(pages[0])
                groups.setdefault(group_key(spec), (spec, []))[1].append((message, pages[0]))
            else:  # an S3 event with several objects: one message per page, then drop the event
                actions.append(await self._fan_out(message, pages))
        chunks: list[dict[str, Any]] = []
        owners: list[list[tuple[Message, PageMessage]]] = []
        for spec, items in groups.values():
            for part in split_evenly(items, self.settings.workers, self.settings.max_chunk):
                pages_json = [
                    {"key": str(i), "canonical_id": p.canonical_id, "image_path": p.image_path}
                    for i, (_, p) in enumerate(part)
                ]
                chunks.append({**spec, "pages": pages_json})
                owners.append(part)
        if chunks:
            started = time.monotonic()
            log.info("batch.dispatched", pages=sum(len(o) for o in owners), chunks=len(chunks))
            results = await self._dispatch(chunks)
            for chunk, part, outcomes in zip(chunks, owners, results, strict=True):
                by_key = {o["key"]: o for o in outcomes}
                for i, (message, page) in enumerate(part):
                    outcome = by_key.get(str(i)) or {
                        "status": "error",
                        "error_class": "retryable",
                        "error": "no outcome from worker",
                    }
                    outcome.setdefault("canonical_id", page.canonical_id)
                    actions.append(
                        acker.decide(
                            message,
                            outcome,
                            engine=chunk["engine"]["name"],
                            max_attempts=self.settings.max_attempts,
                            backoff_base_s=self.settings.backoff_base_s,
                        )
                    )
            log.info(
                "batch.done", pages=sum(len(o) for o in owners), seconds=round(time.monotonic() - started, 3)
            )
        return actions

    async def _dispatch(self, chunks: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
        # The deadline lives here, on the asyncio side (Lithops' wait(timeout=) uses SIGALRM).
        deadline = self.settings.task_timeout_s + 60
        try:
            return await asyncio.wait_for(asyncio.to_thread(self.dispatcher.run_chunks, chunks), deadline)
        except Exception as exc:
            error = "dispatch timed out" if isinstance(exc, TimeoutError) else f"dispatch failed: {exc}"
            log.warning("batch.dispatch_failed", error=redact(error)[:200])
            return [
                [
                    {
                        "key": p["key"],
                        "canonical_id": p["canonical_id"],
                        "status": "error",
                        "error_class": "retryable",
                        "error": error[:300],
                    }
                    for p in c["pages"]
                ]
                for c in chunks
            ]

    async def _fan_out(self, message: Message, pages: list[PageMessage]) -> acker.Action:
        for start in range(0, len(pages), 10):
            group = pages[start : start + 10]
            failed = await self.queue.send_batch([Outgoing(p.to_body()) for p in group])
            if failed:  # keep the event; it comes back after its visibility timeout
                return acker.Action("release", message, status="fan_out_failed")
        return acker.Action("delete", message, status="fanned_out")

    async def _settle(self, actions: list[acker.Action]) -> None:
        result = await acker.apply(self.queue, actions)
        for action in result.applied + result.unsettled:
            self._held.pop(action.message.receipt, None)
        for action in result.applied:
            label = action.status if action.kind == "delete" else action.kind
            self.stats.outcomes[label] += 1
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
        interval = self.settings.visibility_timeout_s / 2
        while True:
            await asyncio.sleep(interval)
            held = list(self._held)
            for start in range(0, len(held), 10):
                group = held[start : start + 10]
                try:
                    await self.queue.change_visibility_batch(
                        [(r, self.settings.visibility_timeout_s) for r in group]
                    )
                except Exception as exc:
                    log.warning("heartbeat.failed", count=len(group), error=redact(str(exc))[:200])

    async def _drain(self) -> None:
        """Let batches in flight finish, then hand back everything else still held
        (buffered, or taken by the batcher when it was cancelled) at visibility 0."""
        if self._inflight:
            await asyncio.wait(list(self._inflight))
        while not self._buffer.empty():
            self._buffer.get_nowait()
        leftover = list(self._held.values())
        if leftover:
            await self._settle([acker.Action("release", m, status="handed_back") for m in leftover])
