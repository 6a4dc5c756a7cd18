"""Shared budgets in a SQLite file, for consumers on one machine (no server to run).

One row per budget; each step is one immediate transaction (the file's write lock), running
``gcra.book`` itself, on the machine's one clock. WAL mode, as the embedded queue uses: the
file may be the queue's own (``sqlite:///.comicocr/queue.sqlite3``), in a table of its own.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from comicocr.ratelimit.gcra import Rates, Slots, backlog, book, paused
from comicocr.ratelimit.shared import Booking, RateStoreDown

T = TypeVar("T")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS vlm_budgets (
    name TEXT PRIMARY KEY,
    next_request REAL NOT NULL,
    next_tokens REAL NOT NULL,
    resume_at REAL NOT NULL
) WITHOUT ROWID
"""
_BUSY_S = 2.0  # another process holding the write lock this long: the store counts as down


def path_of(address: str) -> Path:
    """``sqlite:///rel/b.db`` (relative), ``sqlite:////abs/b.db``, or a plain path."""
    return Path(address.removeprefix("sqlite:///"))


class SqliteBudgetStore:
    def __init__(self, address: str, clock: Callable[[], float] = time.time) -> None:
        self.address = address
        self.path = path_of(address)
        self.clock = clock
        self._lock = threading.Lock()  # one connection, used from the planner's threads
        self._db: sqlite3.Connection | None = None

    def book(self, budget: str, rates: Rates, tokens: int, lead_s: float) -> Booking:
        def step(db: sqlite3.Connection, slots: Slots, now: float) -> Booking:
            at, after = book(slots, now, rates, tokens, lead_s)
            _save(db, budget, after)
            return Booking(at, now)

        return self._run(budget, step)

    def backlog_s(self, budget: str) -> float:
        return self._run(budget, lambda _db, slots, now: backlog(slots, now))

    def pause(self, budget: str, seconds: float) -> None:
        self._run(budget, lambda db, slots, now: _save(db, budget, paused(slots, now, seconds)))

    def ping(self) -> None:
        self._run("", lambda *_: None)

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, timeout=_BUSY_S, isolation_level=None, check_same_thread=False)
            try:
                db.execute("PRAGMA journal_mode=WAL")
                db.execute(_SCHEMA)
            except BaseException:
                db.close()  # opened again on the next try
                raise
            self._db = db
        return self._db

    def _run(self, budget: str, step: Callable[[sqlite3.Connection, Slots, float], T]) -> T:
        """``step(db, the budget's slots, now)`` in one immediate transaction.

        "database is locked" is retried until ``_BUSY_S`` has passed: SQLite's busy timeout does
        not cover every wait (two processes opening a new file at once race on switching it to
        WAL, and a WAL recovery answers SQLITE_BUSY at once; measured: a booking refused under
        load while the other process held the lock for milliseconds)."""
        deadline = time.monotonic() + _BUSY_S
        pause = 0.005
        with self._lock:
            while True:
                try:
                    return self._once(budget, step)
                except sqlite3.OperationalError as exc:
                    if ("locked" not in str(exc) and "busy" not in str(exc)) or time.monotonic() > deadline:
                        raise RateStoreDown(f"VLM rate store {self.address} is not usable: {exc}") from None
                except (sqlite3.Error, OSError) as exc:
                    raise RateStoreDown(f"VLM rate store {self.address} is not usable: {exc}") from None
                time.sleep(pause)
                pause = min(pause * 2, 0.1)

    def _once(self, budget: str, step: Callable[[sqlite3.Connection, Slots, float], T]) -> T:
        db = self._conn()
        db.execute("BEGIN IMMEDIATE")
        try:
            row = db.execute(
                "SELECT next_request, next_tokens, resume_at FROM vlm_budgets WHERE name = ?",
                (budget,),
            ).fetchone()
            out = step(db, Slots(*row) if row else Slots(), self.clock())
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:  # a failed COMMIT too: the next try begins afresh
                db.execute("ROLLBACK")
            raise
        return out


def _save(db: sqlite3.Connection, budget: str, slots: Slots) -> None:
    db.execute(
        "INSERT INTO vlm_budgets VALUES (?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET"
        " next_request = excluded.next_request, next_tokens = excluded.next_tokens,"
        " resume_at = excluded.resume_at",
        (budget, slots.next_request, slots.next_tokens, slots.resume_at),
    )
