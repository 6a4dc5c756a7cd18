"""Unit fixtures: the embedded queue on a clock the tests move (``Clock``), so nothing sleeps."""

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from comicocr.queues.local import LocalQueue


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def queue(tmp_path: Path, clock: Clock) -> AsyncIterator[LocalQueue]:
    """An embedded queue on ``clock`` (a test module may override ``clock``)."""
    q = LocalQueue(f"sqlite:///{tmp_path}/q.sqlite3", max_receives=3, clock=clock)
    await q.ensure()
    yield q
    await q.close()
