"""One command's pipeline: the queue it opens once, and the Lithops dispatcher it starts to consume.

``run`` enqueues and then consumes through the same queue; ``consume`` only consumes::

    async with Pipeline(settings) as pipeline:
        report = await pipeline.enqueue(pages)
        stats = await pipeline.consume(until_idle=True)

This is where the parts are wired together (the queue adapter, the Lithops executor, the
engines' pacing), so the consumer package itself stays free of engines and Lithops.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Awaitable, Callable, Iterable, Sequence
from types import TracebackType

import stamina

from comicocr.consumer import Consumer, Stats
from comicocr.consumer.dispatch import Dispatcher
from comicocr.consumer.endpoint import serve
from comicocr.engines import CATALOG
from comicocr.errors import ConfigError
from comicocr.idset import IdSet
from comicocr.lithops_adapter import LithopsDispatcher, load_config
from comicocr.messages import PageMessage
from comicocr.producer import EnqueueReport, enqueue_pages
from comicocr.queues import Queue, open_queue
from comicocr.settings import Settings


class Pipeline:
    """``create``: make the queue and its DLQ when missing (on entry, riding out a queue server
    that is still starting). ``dispatcher``: run chunks there instead of a new Lithops executor."""

    def __init__(
        self, settings: Settings, *, create: bool = True, dispatcher: Dispatcher | None = None
    ) -> None:
        self.settings = settings
        self.create = create
        self.queue: Queue = open_queue(settings.queue_address, settings.dlq, settings.visibility_timeout_s)
        self._dispatcher = dispatcher

    async def __aenter__(self) -> Pipeline:
        if self.create:
            # ConfigError (no such queue, a bad address) is an answer; anything else may pass.
            retry = stamina.retry_context(
                on=lambda exc: not isinstance(exc, ConfigError), attempts=8, wait_initial=0.5, wait_max=8.0
            )
            try:
                async for attempt in retry:
                    with attempt:
                        await self.queue.ensure()
            except BaseException:
                await self.queue.close()  # no __aexit__ follows a failed __aenter__
                raise
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.queue.close()

    async def enqueue(
        self, pages: Iterable[PageMessage], report: EnqueueReport | None = None
    ) -> EnqueueReport:
        """Send ``pages``; ``report`` (when given) fills in as they go, for a progress display."""
        return await enqueue_pages(self.queue, pages, report)

    async def consume(
        self, until_idle: bool, wanted: IdSet | None = None, sidecars: Sequence[Sidecar] = ()
    ) -> Stats:
        """Consume until SIGTERM/SIGINT (or, ``until_idle``, until the queue is drained or every
        page of ``wanted`` is settled). Each of ``sidecars`` (a progress display) runs beside
        the consumer and is cancelled when it returns; with ``metrics_port`` set, so does the
        HTTP endpoint (``consumer/endpoint.py``)."""
        if self._dispatcher is not None:
            return await self._consume(self._dispatcher, until_idle, wanted, sidecars)
        s = self.settings
        config = load_config(s.lithops_config, s.backend, s.storage, s.workers)
        lithops = await asyncio.to_thread(LithopsDispatcher, config, s.task_timeout_s)
        try:
            return await self._consume(lithops, until_idle, wanted, sidecars)
        finally:
            await asyncio.to_thread(lithops.close)

    async def _consume(
        self, dispatcher: Dispatcher, until_idle: bool, wanted: IdSet | None, sidecars: Sequence[Sidecar]
    ) -> Stats:
        consumer = Consumer(
            self.queue, dispatcher, self.settings, engines=CATALOG, until_idle=until_idle, wanted=wanted
        )
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, consumer.stop)
        s = self.settings
        try:
            async with contextlib.AsyncExitStack() as stack:
                if s.metrics_port is not None:
                    await stack.enter_async_context(serve(consumer, s.metrics_host, s.metrics_port))
                beside = [asyncio.ensure_future(side(consumer)) for side in sidecars]
                try:
                    stats = await consumer.run()
                finally:
                    for task in beside:
                        task.cancel()
                    await asyncio.gather(*beside, return_exceptions=True)
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)
        return stats


Sidecar = Callable[[Consumer], Awaitable[None]]
