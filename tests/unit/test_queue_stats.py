"""``stats()`` of the embedded queue (oldest age, deletes per minute, dead letters by class) and
what ``comicocr status`` makes of it. Times are on a clock the tests move: nothing sleeps."""

import json
import sqlite3
from pathlib import Path

import pytest

from comicocr.errors import ConfigError
from comicocr.queue_status import as_json, read_stats, table
from comicocr.queues.base import Depths, Outgoing, QueueStats, per_minute
from comicocr.queues.local import LocalQueue

from .conftest import Clock

MINUTE = 16_667  # the clock starts on a minute boundary: 60 * MINUTE epoch seconds


@pytest.fixture
def clock() -> Clock:
    """The clock of conftest's ``queue``, started on a minute boundary."""
    return Clock(60.0 * MINUTE)


async def test_oldest_age_counts_from_the_first_send_until_it_is_deleted(
    queue: LocalQueue, clock: Clock
) -> None:
    assert (await queue.stats()).oldest_age_s is None  # empty
    await queue.send_batch([Outgoing("a")])
    clock.now += 30
    await queue.send_batch([Outgoing("b", delay_s=60)])
    clock.now += 12.5
    assert (await queue.stats()).oldest_age_s == 42.5
    first = await queue.receive(1, 0, visibility_s=300)
    assert (await queue.stats()).oldest_age_s == 42.5  # in flight is still in the queue
    await queue.delete_batch([first[0].receipt])
    assert (await queue.stats()).oldest_age_s == 12.5  # now the delayed one
    assert (await queue.dead_letters.stats()).oldest_age_s is None  # each queue its own


async def test_deletes_per_minute_over_1_5_and_15_minutes(queue: LocalQueue, clock: Clock) -> None:
    await queue.send_batch([Outgoing(str(i)) for i in range(10)])
    got = await queue.receive(10, 0, visibility_s=600)
    clock.now += 10
    assert await queue.delete_batch([m.receipt for m in got[:6]]) == []  # 6 in MINUTE, at :10
    clock.now += 60
    # 3 in MINUTE + 1, at :10 (a stale receipt deletes nothing and is not counted)
    assert await queue.delete_batch([m.receipt for m in got[6:9]] + ["x:y"]) == [3]
    rates = (await queue.stats()).deleted_per_min
    # The last minute reaches back to MINUTE's :10: 50 of its 60 seconds, so 5 of its 6 deletes.
    assert rates == {1: 3 + 6 * 50 / 60, 5: 9 / 5, 15: 9 / 15}
    clock.now += 15 * 60  # the 15 minutes now start at MINUTE + 1's :10: 50 s of its 3 deletes
    assert (await queue.stats()).deleted_per_min == {1: 0.0, 5: 0.0, 15: 3 * 50 / 60 / 15}


async def test_delete_counts_stay_a_few_rows(queue: LocalQueue, clock: Clock) -> None:
    for _ in range(40):  # a delete every minute for 40 minutes
        await queue.send_batch([Outgoing("m")])
        (m,) = await queue.receive(1, 0, visibility_s=30)
        await queue.delete_batch([m.receipt])
        clock.now += 60
    db = sqlite3.connect(queue.path)
    (rows,) = db.execute("SELECT COUNT(*) FROM deletes").fetchone()
    db.close()
    assert rows <= 17
    assert (await queue.stats()).deleted_per_min == {1: 1.0, 5: 1.0, 15: 1.0}


async def test_dead_letters_by_error_class(queue: LocalQueue) -> None:
    dead = [("permanent", 3), ("retries_exhausted", 1)]
    await queue.dead_letters.send_batch(
        [Outgoing(f"{c}{i}", {"comicocr-error-class": c}) for c, n in dead for i in range(n)]
    )
    await queue.send_batch([Outgoing("poison")])
    for _ in range(4):  # the safety net moves it on the 4th receive, without a class
        await queue.receive(1, 0, visibility_s=0)
    stats = await queue.stats()
    assert stats.depths == Depths(visible=0, in_flight=0, delayed=0, dead=5)
    assert stats.dead_by_class == {"permanent": 3, "retries_exhausted": 1, "unclassified": 1}
    assert not stats.dead_by_class_sampled
    assert stats.depths == await queue.depths()
    assert (await queue.dead_letters.stats()).dead_by_class == {}  # a DLQ has no dead letters


async def test_a_file_from_before_stats_gains_them_and_says_what_it_cannot_know(
    tmp_path: Path, clock: Clock
) -> None:
    path = tmp_path / "old.sqlite3"
    db = sqlite3.connect(path)
    db.executescript(
        "CREATE TABLE messages (seq INTEGER PRIMARY KEY AUTOINCREMENT, queue TEXT NOT NULL,"
        " id TEXT NOT NULL UNIQUE, body TEXT NOT NULL, attributes TEXT NOT NULL, visible_at REAL NOT NULL,"
        " receive_count INTEGER NOT NULL DEFAULT 0, receipt TEXT UNIQUE, dedup TEXT);"
        "INSERT INTO messages (queue, id, body, attributes, visible_at) VALUES ('main', 'x', 'old', '{}', 0);"
    )
    db.commit()
    db.close()
    queue = LocalQueue(f"sqlite:///{path}", clock=clock)
    try:
        stats = await queue.stats()
        assert stats.depths.visible == 1
        assert stats.oldest_age_s is None  # its one message has no send time
        assert stats.deleted_per_min == {1: None, 5: None, 15: None}  # deletes before now: unknown
        await queue.send_batch([Outgoing("new")])
        clock.now += 90
        stats = await queue.stats()
        assert stats.oldest_age_s == 90  # the old message is left out
        assert stats.deleted_per_min == {1: 0.0, 5: None, 15: None}
        clock.now += 15 * 60
        assert None not in (await queue.stats()).deleted_per_min.values()
    finally:
        await queue.close()


def test_per_minute_spreads_the_first_minute_over_the_window() -> None:
    counts = {100: 60.0, 101: 6.0}
    assert per_minute(counts, 60 * 101 + 30, 1) == 6 + 60 * 30 / 60
    assert per_minute(counts, 60 * 102, 1) == 6  # a whole minute: 101 alone
    assert per_minute({}, 60 * 102, 15) == 0


async def test_status_reads_an_existing_file_and_creates_none(tmp_path: Path) -> None:
    missing = tmp_path / "nope" / "q.sqlite3"
    with pytest.raises(ConfigError, match="no queue file"):
        await read_stats(f"sqlite:///{missing}")
    assert not missing.parent.exists()
    queue = LocalQueue(f"sqlite:///{tmp_path}/q.sqlite3")
    await queue.send_batch([Outgoing("a")])
    await queue.close()
    stats = await read_stats(f"sqlite:///{tmp_path}/q.sqlite3")
    assert stats.depths.visible == 1
    assert stats.oldest_age_s is not None


def test_json_keeps_the_old_keys_and_says_null_for_the_unknown() -> None:
    stats = QueueStats(Depths(4, 2, 1, dead=3), None, {"permanent": 2, "poison": 1})
    out = as_json("sqs://pages", stats)
    assert json.loads(json.dumps(out)) == {
        "queue": "sqs://pages",
        "visible": 4,
        "in_flight": 2,
        "delayed": 1,
        "dead_lettered": 3,
        "dead_by_class": {"permanent": 2, "poison": 1},
        "dead_by_class_sampled": False,
        "oldest_age_s": None,
        "pages_per_min": {"1m": None, "5m": None, "15m": None},
    }


def test_the_table_says_n_a_and_never_a_number_it_does_not_have() -> None:
    stats = QueueStats(
        Depths(4, 2, 1, dead=1200),
        3725.0,
        {"permanent": 900, "poison": 100},
        dead_by_class_sampled=True,
        deleted_per_min={1: 12.5, 5: None, 15: None},
    )
    lines = table("sqs://pages", stats).splitlines()
    assert lines == [
        "queue           sqs://pages",
        "waiting         4",
        "in flight       2",
        "delayed         1",
        "dead-lettered   1200  (a sample of 1000: permanent 900, poison 100)",
        "oldest message  3725 s (1h 02m)",
        "pages/min       1m 12.5   5m n/a   15m n/a",
    ]
    empty = table("sqlite:///q", QueueStats(Depths(0, 0, 0)))
    assert "oldest message  n/a" in empty
    assert "dead-lettered   0\n" in empty


def test_cloudwatch_rates_end_with_its_figures_and_not_before_them() -> None:
    from comicocr.queues.sqs import _rates

    minute = 100
    sums = {minute + i: 10.0 for i in range(20)}  # 20 minutes of figures, the newest ending at 120
    assert _rates(sums, since=60.0 * minute) == {1: 10.0, 5: 10.0, 15: 10.0}
    late = {minute + i: 10.0 for i in range(10)}  # figures stop 10 minutes in: 15 reach too far back
    assert _rates(late, since=60.0 * minute) == {1: 10.0, 5: 10.0, 15: None}
    assert _rates(None, since=0) == {1: None, 5: None, 15: None}  # CloudWatch did not answer
    assert _rates({}, since=0) == {1: None, 5: None, 15: None}  # it has no figures
