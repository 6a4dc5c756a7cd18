"""A local OpenAI-compatible chat-completions server for the VLM tests (aiohttp, loopback only).

It enforces a requests-per-minute limit over a sliding window (429 + Retry-After), can
throttle a share of requests at random (a "429 storm"), and answers in a chosen mode:
valid JSON, fenced, with prose around it, truncated, garbage, empty, or an HTTP status; or
follows a script, per page (told apart by the image size the prompt states) or for any page.
Every request is logged with its time and status for the tests to measure.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

REGIONS = {"regions": [{"text": "HELLO THERE", "bbox": [10, 20, 200, 40]}, {"text": "BYE NOW"}]}
ANSWERS = {
    "json": json.dumps(REGIONS),
    "fenced": "```json\n" + json.dumps(REGIONS) + "\n```",
    "prose": "Here is the text I found:\n" + json.dumps(REGIONS) + "\nLet me know if you need more.",
    "partial": json.dumps(REGIONS)[:-12],
    "qwen": json.dumps([{"bbox_2d": [10, 20, 210, 60], "text": "HELLO THERE"}]),
    "garbage": "I am sorry, I cannot read comics.",
    "empty": "",
}


@dataclass
class FakeVLM:
    rpm_limit: int = 1000  # requests allowed per window
    window_s: float = 60.0
    mode: str = "json"
    storm: float = 0.0  # share of requests answered 429 at random
    status: int = 200  # a fixed error status instead of an answer (500, 402, 400...)
    api_key: str | None = None
    echo_key: bool = False  # answer 401 with the caller's token in the body, as careless servers do
    # Replies in order, before the usual ones: an HTTP status (429 says Retry-After: 0) or an
    # answer mode; keyed by the sent image's "WxH", or "*" for pages without a script of their own.
    script: dict[str, list[int | str]] = field(default_factory=dict)
    log: list[tuple[float, int]] = field(default_factory=list)
    bodies: list[dict[str, Any]] = field(default_factory=list)
    _window: deque[float] = field(default_factory=deque)

    async def handle(self, request: web.Request) -> web.Response:
        now = time.monotonic()
        body = await request.json()
        self.bodies.append(body)
        if self.echo_key:
            token = request.headers.get("Authorization", "")
            return self._reply(now, 401, {"error": f"invalid token: {token}"}, {"X-Echo": token})
        if self.api_key and request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return self._reply(now, 401, {"error": "bad key"})
        steps = self._script_of(body)
        if steps:
            return self._step(now, steps.pop(0))
        while self._window and now - self._window[0] > self.window_s:
            self._window.popleft()
        if len(self._window) >= self.rpm_limit or random.random() < self.storm:
            wait = self.window_s - (now - self._window[0]) if len(self._window) >= self.rpm_limit else 1
            return self._reply(now, 429, {"error": "rate limited"}, {"Retry-After": f"{max(1, int(wait))}"})
        self._window.append(now)
        return self._step(now, self.mode if self.status == 200 else self.status)

    def _script_of(self, body: dict[str, Any]) -> list[int | str] | None:
        size = re.search(r"\((\d+x\d+)\)", json.dumps(body["messages"][0]["content"][0]))
        key = size.group(1) if size else ""
        return self.script[key] if key in self.script else self.script.get("*")

    def _step(self, now: float, step: int | str) -> web.Response:
        if step == 429:
            return self._reply(now, 429, {"error": "rate limited"}, {"Retry-After": "0"})
        if isinstance(step, int):
            return self._reply(now, step, {"error": f"status {step}"})
        answer = {
            "choices": [{"message": {"role": "assistant", "content": ANSWERS[step]}}],
            "usage": {"prompt_tokens": 1000, "completion_tokens": 20, "total_tokens": 1020},
        }
        return self._reply(now, 200, answer)

    def _reply(
        self, now: float, status: int, data: Any, headers: dict[str, str] | None = None
    ) -> web.Response:
        self.log.append((now, status))
        return web.json_response(data, status=status, headers=headers)

    def ok_times(self) -> list[float]:
        return [t for t, s in self.log if s == 200]

    def count(self, status: int) -> int:
        return sum(1 for _, s in self.log if s == status)


class ServerThread:
    """Runs a FakeVLM on 127.0.0.1 in its own thread and event loop (workers are other processes)."""

    def __init__(self, fake: FakeVLM) -> None:
        self.fake = fake
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self.fake.handle)
        self._runner = web.AppRunner(app, access_log=None)
        self._loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        self._loop.run_until_complete(site.start())
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self._ready.set()
        self._loop.run_forever()

    def __enter__(self) -> ServerThread:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
