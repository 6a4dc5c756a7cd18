"""The embedded queue: one SQLite file with SQS semantics, for one machine.

Visibility timeouts, receive counts, delays, batch operations and a dead-letter
queue (also the safety net: a message received ``max_receives`` times moves there)
behave as on SQS, so the consumer cannot tell the two apart. Several processes may
share the file (WAL mode). It is not a distributed queue: scale out with SQS.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from comicocr.queues.base import MAX_BATCH, Depths, Message, Outgoing

T = TypeVar("T")
MAIN, DEAD = "main", "dlq"
_POLL_S = 0.05

_SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    queue TEXT NOT NULL,
    id TEXT NOT NULL UNIQUE,
    body TEXT NOT NULL,
    attributes TEXT NOT NULL,
    visible_at REAL NOT NULL,
    receive_count INTEGER NOT NULL DEFAULT 0,
    receipt TEXT UNIQUE
);
CREATE INDEX IF NOT EXISTS messages_ready ON messages (queue, visible_at, seq);
"""


def path_from_address(address: str) -> Path:
    """``sqlite:///rel/q.db`` (relative), ``sqlite:////abs/q.db``, or a bare ``*.db`` path."""
    if address.startswith("sqlite:///"):
        return Path(address[len("sqlite:///") :])
    return Path(address)


class LocalQueue:
    def __init__(self, address: str, max_receives: int = 50) -> None:
        self.address = address
        self.path = path_from_address(address)
        self.max_receives = max_receives
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL survives a process crash
            db.executescript(_SCHEMA)
            self._db = db
        return self._db

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        def locked() -> T:
            with self._lock:
                db = self._conn()
                db.execute("BEGIN IMMEDIATE")
                try:
                    out = fn(db)
                except BaseException:
                    db.execute("ROLLBACK")
                    raise
                db.execute("COMMIT")
                return out

        return await asyncio.to_thread(locked)

    async def ensure(self) -> None:
        await self._run(lambda db: None)

    def _insert(self, db: sqlite3.Connection, queue: str, entries: list[Outgoing]) -> list[int]:
        now = time.time()
        db.executemany(
            "INSERT INTO messages (queue, id, body, attributes, visible_at) VALUES (?, ?, ?, ?, ?)",
            [(queue, str(uuid.uuid4()), e.body, json.dumps(e.attributes), now + e.delay_s) for e in entries],
        )
        return []

    async def send_batch(self, entries: list[Outgoing]) -> list[int]:
        assert len(entries) <= MAX_BATCH
        return await self._run(lambda db: self._insert(db, MAIN, entries))

    async def send_dead_letter(self, entries: list[Outgoing]) -> list[int]:
        return await self._run(lambda db: self._insert(db, DEAD, entries))

    def _receive(self, db: sqlite3.Connection, queue: str, limit: int, visibility_s: int) -> list[Message]:
        now = time.time()
        rows = db.execute(
            "SELECT seq, id, body, attributes, receive_count FROM messages"
            " WHERE queue = ? AND visible_at <= ? ORDER BY seq LIMIT ?",
            (queue, now, limit),
        ).fetchall()
        out = []
        for seq, mid, body, attrs, count in rows:
            if queue == MAIN and count >= self.max_receives:
                # The RedrivePolicy safety net, as SQS applies it on receive.
                db.execute(
                    "UPDATE messages SET queue = ?, visible_at = ?, receive_count = 0, receipt = NULL"
                    " WHERE seq = ?",
                    (DEAD, now, seq),
                )
                continue
            receipt = f"{mid}:{uuid.uuid4().hex}"
            db.execute(
                "UPDATE messages SET receipt = ?, receive_count = ?, visible_at = ? WHERE seq = ?",
                (receipt, count + 1, now + visibility_s, seq),
            )
            out.append(Message(mid, receipt, body, count + 1, json.loads(attrs)))
        return out

    async def _poll(self, queue: str, max_messages: int, wait_s: float, visibility_s: int) -> list[Message]:
        deadline = time.monotonic() + wait_s
        limit = min(max_messages, MAX_BATCH)
        while True:
            got = await self._run(lambda db: self._receive(db, queue, limit, visibility_s))
            if got or time.monotonic() >= deadline:
                return got
            await asyncio.sleep(min(_POLL_S, max(0.0, deadline - time.monotonic())))

    async def receive(self, max_messages: int, wait_s: float, visibility_s: int) -> list[Message]:
        return await self._poll(MAIN, max_messages, wait_s, visibility_s)

    async def receive_dead_letters(self, max_messages: int, visibility_s: int) -> list[Message]:
        return await self._poll(DEAD, max_messages, 0, visibility_s)

    def _delete(self, db: sqlite3.Connection, queue: str, receipts: list[str]) -> list[int]:
        failed = []
        for i, receipt in enumerate(receipts):
            cur = db.execute("DELETE FROM messages WHERE queue = ? AND receipt = ?", (queue, receipt))
            if cur.rowcount != 1:
                failed.append(i)
        return failed

    async def delete_batch(self, receipts: list[str]) -> list[int]:
        return await self._run(lambda db: self._delete(db, MAIN, receipts))

    async def delete_dead_letters(self, receipts: list[str]) -> list[int]:
        return await self._run(lambda db: self._delete(db, DEAD, receipts))

    async def release_dead_letters(self, receipts: list[str]) -> list[int]:
        return await self.change_visibility_batch([(r, 0) for r in receipts])

    async def change_visibility_batch(self, items: list[tuple[str, int]]) -> list[int]:
        def change(db: sqlite3.Connection) -> list[int]:
            now, failed = time.time(), []
            for i, (receipt, seconds) in enumerate(items):
                cur = db.execute(
                    "UPDATE messages SET visible_at = ? WHERE receipt = ?", (now + seconds, receipt)
                )
                if cur.rowcount != 1:
                    failed.append(i)
            return failed

        return await self._run(change)

    async def depths(self) -> Depths:
        def count(db: sqlite3.Connection) -> Depths:
            now = time.time()
            row = db.execute(
                "SELECT"
                " SUM(queue = :m AND visible_at <= :now),"
                " SUM(queue = :m AND visible_at > :now AND receipt IS NOT NULL),"
                " SUM(queue = :m AND visible_at > :now AND receipt IS NULL),"
                " SUM(queue = :d) FROM messages",
                {"m": MAIN, "d": DEAD, "now": now},
            ).fetchone()
            return Depths(*(int(v or 0) for v in row))

        return await self._run(count)

    async def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None
