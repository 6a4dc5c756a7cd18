"""Run a batch's chunks through the dispatcher and get one outcome per page back.

When a whole call dies (worker crash, OOM kill, timeout) every page in it failed without
any of them being to blame, so the pages of such a chunk run once more one by one: the
page that kills its worker then fails alone, and its neighbours succeed instead of losing
an attempt to it.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import threading
from collections.abc import Callable
from dataclasses import replace
from typing import Protocol, TypeVar

import structlog

from comicocr.consumer.planner import Dispatch, PageResult
from comicocr.contract import Chunk, Failed, Outcome
from comicocr.errors import ErrorClass
from comicocr.redact import redacted

log = structlog.get_logger("comicocr.dispatch")
T = TypeVar("T")


class Dispatcher(Protocol):
    """Runs chunks somewhere (Lithops, or in-process in tests); blocking, called in a thread."""

    def run_chunks(self, chunks: list[Chunk]) -> list[list[Outcome]]: ...


def _in_daemon_thread(fn: Callable[[], T]) -> asyncio.Future[T]:
    """``fn()`` in a daemon thread. Not ``asyncio.to_thread``: a Lithops wait can outlive its
    deadline or an abort (the job runs on), and the default executor's threads are joined at
    exit, so a second Ctrl-C would wait for the batch. A daemon thread is left behind."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def settle(outcome: Callable[[], None]) -> None:
        if not future.done():  # cancelled meanwhile: nobody waits for it
            outcome()

    def target() -> None:
        try:
            result = fn()
        except BaseException as exc:
            error = exc  # the name ``exc`` is gone once the except block ends
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is listening
                loop.call_soon_threadsafe(settle, lambda: future.set_exception(error))
        else:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(settle, lambda: future.set_result(result))

    threading.Thread(target=target, name="comicocr-dispatch", daemon=True).start()
    return future


async def _run(dispatcher: Dispatcher, dispatches: list[Dispatch], deadline_s: float) -> list[list[Outcome]]:
    # The deadline lives here, on the asyncio side (Lithops' wait(timeout=) uses SIGALRM).
    chunks = [d.chunk for d in dispatches]
    try:
        return await asyncio.wait_for(_in_daemon_thread(lambda: dispatcher.run_chunks(chunks)), deadline_s)
    except Exception as exc:
        error = "dispatch timed out" if isinstance(exc, TimeoutError) else f"dispatch failed: {exc}"
        log.warning("batch.dispatch_failed", error=redacted(error))
        return [c.whole_call_failed(error) for c in chunks]


def _whole_call_failed(dispatch: Dispatch, outcomes: list[Outcome]) -> bool:
    return (
        len(dispatch.messages) > 1
        and bool(outcomes)
        and all(isinstance(o, Failed) and o.whole_call for o in outcomes)
    )


async def run_dispatches(
    dispatcher: Dispatcher, dispatches: list[Dispatch], workers: int, task_timeout_s: float
) -> list[PageResult]:
    """Run every chunk (one dispatcher call for all of them); return a result for every page."""

    def deadline(n: int) -> float:  # calls beyond the worker count wait for a free worker
        return task_timeout_s * math.ceil(n / max(workers, 1)) + 60

    results = await _run(dispatcher, dispatches, deadline(len(dispatches)))
    suspects = [
        i for i, (d, outs) in enumerate(zip(dispatches, results, strict=True)) if _whole_call_failed(d, outs)
    ]
    if suspects:
        singles = [dispatches[i].single(j) for i in suspects for j in range(len(dispatches[i].messages))]
        log.warning("batch.isolating", chunks=len(suspects), pages=len(singles))
        retried = iter(await _run(dispatcher, singles, deadline(len(singles))))
        for i in suspects:  # each single ran as key "0": put them back at their places
            results[i] = [replace(next(retried)[0], key=str(j)) for j in range(len(dispatches[i].messages))]
    out = []
    for dispatch, outcomes in zip(dispatches, results, strict=True):
        by_key = {o.key: o for o in outcomes}
        engine = dispatch.chunk.spec.engine.name
        for page, message in zip(dispatch.chunk.pages, dispatch.messages, strict=True):
            outcome = by_key.get(page.key) or Failed(
                page.key, page.canonical_id, ErrorClass.RETRYABLE, "no outcome from worker"
            )
            out.append(PageResult(message, engine, outcome))
    return out
