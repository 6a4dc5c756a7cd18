"""Fault-injection engines for tests and chaos drills: each fails the way real engines do.

They are registered only when ``COMICOCR_FAULT_ENGINES=1`` is set in the environment of
the consumer and its workers (base.py), so a message cannot select them in production.

- ``fault_crash``: the worker process exits mid-chunk (a segfaulting native library)
- ``fault_oom``:   the worker is SIGKILLed, as the kernel's OOM killer does
- ``fault_hang``:  the engine never returns (a deadlocked model)
- ``fault_flaky``: fails ``failures`` times per page, then reads nothing (state in ``state_dir``)
- ``fault_slow``:  sleeps ``seconds`` per page, then reads nothing (long jobs, heartbeats)
"""

from __future__ import annotations

import hashlib
import os
import signal
import time
from pathlib import Path
from typing import ClassVar

from PIL import Image
from pydantic import Field

from comicocr.engines.base import Engine, EngineOptions, Recognition
from comicocr.errors import RetryableError


class FaultOptions(EngineOptions):
    failures: int = Field(1, ge=0, le=100)
    state_dir: str = Field("", max_length=1000)
    seconds: float = Field(0.2, ge=0, le=3600)


class _Fault(Engine[FaultOptions]):
    name: ClassVar[str] = "fault"
    languages: ClassVar[tuple[str, ...]] = ("en", "fr", "ja")
    Options: ClassVar[type[EngineOptions]] = FaultOptions
    operator_options: ClassVar[frozenset[str]] = frozenset({"state_dir"})

    def describe(self) -> dict[str, str]:
        return {"engine": self.name, "version": "0", "model": "fault-injection"}

    def recognize(self, image: Image.Image) -> Recognition:
        raise NotImplementedError


class CrashEngine(_Fault):
    name: ClassVar[str] = "fault_crash"

    def recognize(self, image: Image.Image) -> Recognition:
        os._exit(70)


class OomEngine(_Fault):
    name: ClassVar[str] = "fault_oom"

    def recognize(self, image: Image.Image) -> Recognition:
        os.kill(os.getpid(), signal.SIGKILL)
        return Recognition([])


class HangEngine(_Fault):
    name: ClassVar[str] = "fault_hang"

    def recognize(self, image: Image.Image) -> Recognition:
        while True:
            time.sleep(3600)


class FlakyEngine(_Fault):
    name: ClassVar[str] = "fault_flaky"

    def recognize(self, image: Image.Image) -> Recognition:
        key = hashlib.sha256(image.tobytes()).hexdigest()[:16]
        marker = Path(self.options.state_dir) / f"{key}.fails"
        seen = int(marker.read_text()) if marker.exists() else 0
        if seen < self.options.failures:
            marker.write_text(str(seen + 1))
            raise RetryableError(f"flaky engine: failure {seen + 1} of {self.options.failures}")
        return Recognition([])


class SlowEngine(_Fault):
    name: ClassVar[str] = "fault_slow"

    def recognize(self, image: Image.Image) -> Recognition:
        time.sleep(self.options.seconds)
        return Recognition([])
