"""Send pages to the queue in batches of 10, a few batches at a time."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field

from comicocr.messages import PageMessage
from comicocr.queues.base import MAX_BATCH, Queue

_CONCURRENT_BATCHES = 8
_SEND_TRIES = 4


@dataclass
class EnqueueReport:
    sent: int = 0
    already_queued: int = 0  # dropped by the queue: the same page is still waiting there
    failed: list[str] = field(default_factory=list)  # canonical ids that could not be sent

    @property
    def handled(self) -> int:
        """Pages the queue has answered for, one way or another."""
        return self.sent + self.already_queued + len(self.failed)


async def _send(queue: Queue, batch: list[PageMessage], report: EnqueueReport) -> None:
    pending = batch
    for attempt in range(_SEND_TRIES):
        sent = await queue.send_batch([p.to_outgoing() for p in pending])
        report.already_queued += len(sent.duplicates)
        report.sent += len(pending) - len(sent.failed) - len(sent.duplicates)
        pending = [pending[i] for i in sent.failed]
        if not pending:
            return
        await asyncio.sleep(0.2 * 2**attempt)  # partial batch failure: usually throttling
    report.failed.extend(p.canonical_id for p in pending)


async def enqueue_pages(
    queue: Queue, pages: Iterable[PageMessage], report: EnqueueReport | None = None
) -> EnqueueReport:
    """Send every page; ids that still fail after retries are listed in the report. A
    ``report`` handed in fills in as batches go (a progress display reads it meanwhile)."""
    report = report if report is not None else EnqueueReport()
    gate = asyncio.Semaphore(_CONCURRENT_BATCHES)

    async def send_then_release(batch: list[PageMessage]) -> None:
        try:
            await _send(queue, batch, report)
        finally:
            gate.release()

    batch: list[PageMessage] = []
    async with asyncio.TaskGroup() as group:
        for page in pages:
            batch.append(page)
            if len(batch) == MAX_BATCH:
                await gate.acquire()  # bounded: a million-row manifest never makes 100k tasks
                group.create_task(send_then_release(batch))
                batch = []
        if batch:
            await gate.acquire()
            group.create_task(send_then_release(batch))
    return report
