"""The embedded queue: one SQLite file with SQS semantics, for one machine.

Visibility timeouts, receive counts, delays, batch operations and a dead-letter
queue in the same file (also the safety net: a message received ``max_receives`` times moves there)
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

from comicocr.errors import ConfigError
from comicocr.queues.base import (
    DEAD_PEEK_LIMIT,
    ERROR_CLASS_ATTR,
    MAX_BATCH,
    STATS_WINDOWS_MIN,
    UNCLASSIFIED,
    Depths,
    Message,
    MoveUnsupported,
    Outgoing,
    QueueStats,
    Sent,
    per_minute,
)

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
    receipt TEXT UNIQUE,
    dedup TEXT,
    sent_at REAL
);
CREATE INDEX IF NOT EXISTS messages_ready ON messages (queue, visible_at, seq);
CREATE TABLE IF NOT EXISTS deletes (
    queue TEXT NOT NULL,
    minute INTEGER NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (queue, minute)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS deletes_since (at REAL NOT NULL);
"""
# Files made before ``dedup`` / ``sent_at`` existed gain the columns (and the index) when opened;
# their old messages have no ``sent_at`` and are left out of the oldest message's age.
_COLUMNS = {"dedup": "TEXT", "sent_at": "REAL"}
_DEDUP = "CREATE INDEX IF NOT EXISTS messages_dedup ON messages (queue, dedup) WHERE dedup IS NOT NULL"
# Deletes are counted per minute, for the deletes-per-minute over the last 1, 5 and 15 minutes
# (``stats``): a few rows per queue, the ones older than the longest window pruned on each write.
_KEEP_MINUTES = max(STATS_WINDOWS_MIN) + 1


def path_from_address(address: str) -> Path:
    """``sqlite:///rel/q.db`` (relative) or ``sqlite:////abs/q.db``."""
    return Path(address.removeprefix("sqlite:///"))


class _Store:
    """The SQLite file, opened on first use; shared by a queue and its dead-letter queue."""

    def __init__(self, path: Path, clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self.clock = clock
        self.lock = threading.Lock()
        self._db: sqlite3.Connection | None = None

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            if self.path.is_file() and self.path.stat().st_size == 0:
                # SQLite would take an empty file as a new queue: the dead letters it held would be
                # gone without a word. A queue file is never empty once comicocr has opened it.
                raise self._damaged("it is empty (0 bytes)")
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL survives a process crash
            try:
                # A file cut short or overwritten reads as fewer messages, not as an error,
                # unless it is checked: once per open, a quick scan of the structure.
                (verdict,) = db.execute("PRAGMA quick_check(1)").fetchone()
                if verdict != "ok":
                    raise self._damaged(str(verdict)[:200])
                tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
                db.executescript(_SCHEMA)
                if "messages" in tables and "deletes" not in tables:
                    # A file from before deletes were counted: the rates over windows that
                    # reach back before now are unknown, not zero.
                    db.execute(
                        "INSERT INTO deletes_since SELECT ? WHERE NOT EXISTS (SELECT 1 FROM deletes_since)",
                        (self.clock(),),
                    )
                have = {row[1] for row in db.execute("PRAGMA table_info(messages)")}
                for column, kind in _COLUMNS.items():
                    if column in have:
                        continue
                    try:
                        db.execute(f"ALTER TABLE messages ADD COLUMN {column} {kind}")
                    except sqlite3.OperationalError as exc:  # another process added it first
                        if "duplicate column" not in str(exc):
                            raise
                db.execute(_DEDUP)
            except BaseException:
                db.close()
                raise
            self._db = db
        return self._db

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` in one immediate transaction, in a thread."""

        def locked() -> T:
            with self.lock:
                try:
                    db = self._conn()
                    db.execute("BEGIN IMMEDIATE")
                except sqlite3.DatabaseError as exc:
                    if exc.sqlite_errorname in ("SQLITE_NOTADB", "SQLITE_CORRUPT"):
                        raise self._damaged(str(exc)) from None
                    raise
                try:
                    out = fn(db)
                except BaseException:
                    db.execute("ROLLBACK")
                    raise
                db.execute("COMMIT")
                return out

        return await asyncio.to_thread(locked)

    def _damaged(self, why: str) -> ConfigError:
        return ConfigError(
            f"the queue file {self.path} is damaged ({why}): restore it from a backup, or move it"
            " away to start an empty queue (its messages and dead letters are then gone)"
        )

    def close(self) -> None:
        with self.lock:
            if self._db is not None:
                self._db.close()
                self._db = None


class LocalQueue:
    """One queue of the file: ``main``, or its dead-letter queue ``dlq`` (``dead_letters``).

    ``clock`` gives the epoch seconds that visibility and delays count in (tests control it).
    """

    def __init__(
        self,
        address: str,
        max_receives: int = 50,
        clock: Callable[[], float] = time.time,
        *,
        _store: _Store | None = None,
    ) -> None:
        self.address = address
        self.delays_messages = True
        self.path = path_from_address(address)
        self.max_receives = max_receives
        self.clock = clock
        self._store = _store or _Store(self.path, clock)
        self._queue = MAIN if _store is None else DEAD
        self._dead = (
            LocalQueue(address, max_receives, clock, _store=self._store) if self._queue == MAIN else None
        )

    @property
    def dead_letters(self) -> LocalQueue:
        if self._dead is None:
            raise ConfigError(f"{self.address} ({DEAD}) is a dead-letter queue: it has no dead-letter queue")
        return self._dead

    async def recreate(self) -> bool:
        return False  # the embedded queue never raises QueueGone: its file is open for good

    async def ensure(self) -> None:
        await self._store.run(lambda db: None)

    async def send_batch(self, entries: list[Outgoing]) -> Sent:
        assert len(entries) <= MAX_BATCH

        def send(db: sqlite3.Connection) -> Sent:
            now, duplicates = self.clock(), []
            for i, e in enumerate(entries):
                # Waiting: not received, or received and back after its visibility ran out. A
                # message in flight does not count: its consumer may be dead, and its page
                # would then wait out the visibility timeout; a repeat of a page that gets
                # done meanwhile is skipped by its worker (the result exists).
                if (
                    e.dedup_id is not None
                    and db.execute(
                        # Named: left to itself, SQLite's planner ORs two other indexes
                        # (every unreceived, every visible message): O(backlog) per page.
                        "SELECT 1 FROM messages INDEXED BY messages_dedup WHERE queue = ? AND dedup = ?"
                        " AND (receipt IS NULL OR visible_at <= ?) LIMIT 1",
                        (self._queue, e.dedup_id, now),
                    ).fetchone()
                ):
                    duplicates.append(i)
                    continue
                db.execute(
                    "INSERT INTO messages (queue, id, body, attributes, visible_at, dedup, sent_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        self._queue,
                        str(uuid.uuid4()),
                        e.body,
                        json.dumps(e.attributes),
                        now + e.delay_s,
                        e.dedup_id,
                        now,
                    ),
                )
            return Sent(duplicates=duplicates)

        return await self._store.run(send)

    def _receive(self, db: sqlite3.Connection, limit: int, visibility_s: int) -> list[Message]:
        now = self.clock()
        # In the order messages became visible (the index's own order): ``ORDER BY seq`` made
        # SQLite sort every visible message on each receive, a cost that grew with the backlog.
        rows = db.execute(
            "SELECT seq, id, body, attributes, receive_count FROM messages"
            " WHERE queue = ? AND visible_at <= ? ORDER BY visible_at, seq LIMIT ?",
            (self._queue, now, limit),
        ).fetchall()
        out = []
        for seq, mid, body, attrs, count in rows:
            if self._dead is not None and count >= self.max_receives:
                # The RedrivePolicy safety net, as SQS applies it on receive.
                db.execute(
                    "UPDATE messages SET queue = ?, visible_at = ?, receive_count = 0, receipt = NULL,"
                    " dedup = NULL WHERE seq = ?",
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

    async def receive(self, max_messages: int, wait_s: float, visibility_s: int) -> list[Message]:
        deadline = self.clock() + wait_s
        limit = min(max_messages, MAX_BATCH)
        while True:
            got = await self._store.run(lambda db: self._receive(db, limit, visibility_s))
            if got or self.clock() >= deadline:
                return got
            await asyncio.sleep(min(_POLL_S, max(0.0, deadline - self.clock())))

    async def delete_batch(self, receipts: list[str]) -> list[int]:
        def delete(db: sqlite3.Connection) -> list[int]:
            failed = []
            for i, receipt in enumerate(receipts):
                cur = db.execute(
                    "DELETE FROM messages WHERE queue = ? AND receipt = ?", (self._queue, receipt)
                )
                if cur.rowcount != 1:
                    failed.append(i)
            if len(failed) < len(receipts):
                minute = int(self.clock() // 60)
                db.execute(
                    "INSERT INTO deletes (queue, minute, n) VALUES (?, ?, ?)"
                    " ON CONFLICT (queue, minute) DO UPDATE SET n = n + excluded.n",
                    (self._queue, minute, len(receipts) - len(failed)),
                )
                db.execute("DELETE FROM deletes WHERE minute < ?", (minute - _KEEP_MINUTES,))
            return failed

        return await self._store.run(delete)

    async def change_visibility_batch(self, items: list[tuple[str, int]]) -> list[int]:
        def change(db: sqlite3.Connection) -> list[int]:
            now, failed = self.clock(), []
            for i, (receipt, seconds) in enumerate(items):
                cur = db.execute(
                    "UPDATE messages SET visible_at = ? WHERE queue = ? AND receipt = ?",
                    (now + seconds, self._queue, receipt),
                )
                if cur.rowcount != 1:
                    failed.append(i)
            return failed

        return await self._store.run(change)

    async def move_dead_letters_back(self) -> int:
        raise MoveUnsupported("the embedded queue moves dead letters by receive -> send -> delete")

    async def depths(self) -> Depths:
        def count(db: sqlite3.Connection) -> Depths:
            row = db.execute(
                "SELECT"
                " SUM(queue = :q AND visible_at <= :now),"
                " SUM(queue = :q AND visible_at > :now AND receipt IS NOT NULL),"
                " SUM(queue = :q AND visible_at > :now AND receipt IS NULL),"
                " SUM(queue = :d) FROM messages",
                {"q": self._queue, "d": DEAD if self._dead is not None else "", "now": self.clock()},
            ).fetchone()
            return Depths(*(int(v or 0) for v in row))

        return await self._store.run(count)

    async def stats(self, *, dead_peek: int = DEAD_PEEK_LIMIT) -> QueueStats:
        """Everything from the file, in one transaction; every dead letter is counted by class
        (reading the file hides nothing, so ``dead_peek`` does not apply)."""
        del dead_peek

        def read(db: sqlite3.Connection) -> QueueStats:
            now = self.clock()
            row = db.execute(
                "SELECT"
                " SUM(queue = :q AND visible_at <= :now),"
                " SUM(queue = :q AND visible_at > :now AND receipt IS NOT NULL),"
                " SUM(queue = :q AND visible_at > :now AND receipt IS NULL),"
                " SUM(queue = :d),"
                " MIN(CASE WHEN queue = :q THEN sent_at END) FROM messages",
                {"q": self._queue, "d": DEAD if self._dead is not None else "", "now": now},
            ).fetchone()
            depths = Depths(*(int(v or 0) for v in row[:4]))
            first_sent = row[4]
            by_class: dict[str, int] = {}
            if self._dead is not None:
                for error_class, n in db.execute(
                    "SELECT json_extract(attributes, ?), COUNT(*) FROM messages WHERE queue = ? GROUP BY 1",
                    (f'$."{ERROR_CLASS_ATTR}"', DEAD),
                ):
                    key = str(error_class) if error_class else UNCLASSIFIED
                    by_class[key] = by_class.get(key, 0) + int(n)
            since = db.execute("SELECT MIN(at) FROM deletes_since").fetchone()[0]
            buckets = dict(
                db.execute(
                    "SELECT minute, n FROM deletes WHERE queue = ? AND minute >= ?",
                    (self._queue, int(now // 60) - _KEEP_MINUTES),
                ).fetchall()
            )
            return QueueStats(
                depths=depths,
                oldest_age_s=None if first_sent is None else max(0.0, now - float(first_sent)),
                dead_by_class=by_class,
                deleted_per_min={
                    w: None if since is not None and since > now - 60 * w else per_minute(buckets, now, w)
                    for w in STATS_WINDOWS_MIN
                },
            )

        return await self._store.run(read)

    async def close(self) -> None:
        if self._dead is not None:  # the main queue owns the file handle
            self._store.close()
