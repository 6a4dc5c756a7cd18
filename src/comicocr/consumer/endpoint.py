"""The consumer's HTTP endpoint for whoever runs it (Kubernetes probes, Prometheus):

- ``GET /healthz`` 200 while the event loop answers and the receive loop keeps going round
  (a wedged receive loop means no work is taken: restart me); 503 otherwise.
- ``GET /readyz``  200 when the queue answers and the consumer is not stopping; 503 otherwise.
- ``GET /metrics`` the Prometheus text format (``metrics.py``); queue depths and the oldest
  message's age are asked of the queue at most every few seconds, however often it is scraped.

It listens on 127.0.0.1 unless told otherwise: the numbers are no secret, but a consumer's
port is no public service either::

    async with serve(consumer, host="127.0.0.1", port=0) as url:   # port 0: any free port
        ...
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import structlog
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from comicocr.redact import redacted

if TYPE_CHECKING:
    from comicocr.consumer.supervisor import Consumer

log = structlog.get_logger("comicocr.endpoint")

_QUEUE_EVERY_S = 5.0  # ask the queue for its depths at most this often
_QUEUE_TIMEOUT_S = 5.0


class _Probe:
    def __init__(self, consumer: Consumer) -> None:
        self.consumer = consumer
        self._asked_at = -_QUEUE_EVERY_S
        self._queue_error: str | None = None
        self._lock = asyncio.Lock()
        # A long poll takes up to poll_wait_s; past a few of them the receive loop is stuck.
        self.stuck_after_s = 3 * consumer.settings.poll_wait_s + 30

    async def refresh_queue(self) -> str | None:
        """Ask the queue for its numbers (cached); return why it could not answer, or None."""
        async with self._lock:
            if time.monotonic() - self._asked_at < _QUEUE_EVERY_S:
                return self._queue_error
            self._asked_at = time.monotonic()
            try:
                stats = await asyncio.wait_for(self.consumer.queue.stats(dead_peek=0), _QUEUE_TIMEOUT_S)
            except Exception as exc:  # TimeoutError included: the queue is what is not ready
                self._queue_error = redacted(exc) or type(exc).__name__
            else:
                self.consumer.metrics.queue_seen(stats)
                self._queue_error = None
            return self._queue_error

    async def healthz(self, _request: web.Request) -> web.Response:
        age = self.consumer.receive_age_s()
        if age > self.stuck_after_s and not (self.consumer.stopping or self.consumer.backpressured):
            return web.json_response({"status": "stuck", "receive_age_s": round(age, 1)}, status=503)
        return web.json_response({"status": "ok", "receive_age_s": round(age, 1)})

    async def readyz(self, _request: web.Request) -> web.Response:
        if self.consumer.stopping:
            return web.json_response({"status": "stopping"}, status=503)
        problem = await self.refresh_queue()
        if problem:
            return web.json_response({"status": "queue unreachable", "error": problem}, status=503)
        return web.json_response({"status": "ready"})

    async def metrics(self, _request: web.Request) -> web.Response:
        await self.refresh_queue()
        return web.Response(
            body=self.consumer.metrics.render(), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )


@asynccontextmanager
async def serve(consumer: Consumer, host: str, port: int) -> AsyncIterator[str]:
    """Serve the endpoint while the block runs; yield its base URL (the real port when 0)."""
    probe = _Probe(consumer)
    app = web.Application()
    app.router.add_get("/healthz", probe.healthz)
    app.router.add_get("/readyz", probe.readyz)
    app.router.add_get("/metrics", probe.metrics)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        from comicocr.errors import ConfigError

        raise ConfigError(f"cannot serve metrics on {host}:{port}: {exc.strerror}") from None
    bound = runner.addresses[0][1]  # the port the system chose when asked for 0
    url = f"http://{'[' + host + ']' if ':' in host else host}:{bound}"
    log.info("endpoint.listening", url=url, paths="/healthz /readyz /metrics")
    try:
        yield url
    finally:
        await runner.cleanup()
