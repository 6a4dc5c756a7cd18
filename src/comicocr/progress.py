"""Progress of a long command (``run``, ``enqueue``): a bar on a terminal, a log line otherwise.

On a terminal, rich draws pages done / dead / rate / ETA on stderr, and log lines print above
the bar (rich redirects stderr while it draws; ``logs`` resolves stderr per line for that).
Off a terminal (CI, a service's log), a ``progress`` event goes through the log every
``every_s`` seconds, so the stream stays one format::

    progress = Progress("ocr", total=len(pages))
    await progress.follow(lambda: (stats.done, len(stats.dead)))   # until cancelled
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import Callable

import structlog

log = structlog.get_logger("comicocr.progress")

Reading = Callable[[], tuple[int, int]]  # (pages settled well, pages dead-lettered)


class Progress:
    def __init__(self, what: str, total: int, every_s: float = 10.0, bar: bool | None = None) -> None:
        self.what = what
        self.total = total
        self.every_s = every_s
        self.bar = sys.stderr.isatty() if bar is None else bar

    async def follow(self, read: Reading) -> None:
        """Show progress until cancelled; the last state is shown once more on the way out."""
        if self.bar:
            await self._bar(read)
        else:
            await self._lines(read)

    async def _bar(self, read: Reading) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn
        from rich.progress import Progress as Bar

        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("dead {task.fields[dead]}"),
            TextColumn("{task.fields[rate]}"),
            TimeRemainingColumn(),
        )
        started = time.monotonic()
        with Bar(*columns, console=Console(stderr=True), transient=False) as bar:
            task = bar.add_task(self.what, total=self.total, dead=0, rate="")

            def show() -> None:
                ok, dead = read()
                rate = (ok + dead) / max(time.monotonic() - started, 1e-9)
                bar.update(task, completed=ok + dead, dead=dead, rate=f"{rate:.1f} pages/s")

            try:
                while True:
                    show()
                    await asyncio.sleep(0.5)
            finally:
                show()

    async def _lines(self, read: Reading) -> None:
        started = time.monotonic()
        shown = False
        try:
            while True:
                await asyncio.sleep(self.every_s)
                self._line(read, started)
                shown = True
        finally:
            if shown:  # the last state too; a command over before the first line needs none
                with contextlib.suppress(Exception):
                    self._line(read, started)

    def _line(self, read: Reading, started: float) -> None:
        ok, dead = read()
        elapsed = time.monotonic() - started
        rate = (ok + dead) / max(elapsed, 1e-9)
        left = self.total - ok - dead
        log.info(
            "progress",
            what=self.what,
            done=ok,
            dead=dead,
            total=self.total,
            pages_per_s=round(rate, 2),
            eta_s=round(left / rate) if rate > 0 and left > 0 else None,
        )
