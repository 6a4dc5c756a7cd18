"""One VLM budget shared by several pacers through a store: the SQLite store on a faked clock
(Redis, the same arithmetic in Lua, is tested against a real server in the integration tests)."""

from __future__ import annotations

import json
import socket
from collections.abc import Mapping
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from comicocr.consumer.planner import plan
from comicocr.contract import Throttled
from comicocr.errors import ConfigError
from comicocr.queues.base import Message
from comicocr.ratelimit import LocalPacer, Rates, RateStoreDown, SharedPacer, check_store, open_pacer
from comicocr.ratelimit import shared as shared_module
from comicocr.ratelimit.gcra import Slots, book
from comicocr.ratelimit.redis_store import shown
from comicocr.ratelimit.shared import Booking, budget_name
from comicocr.ratelimit.sqlite_store import SqliteBudgetStore
from comicocr.settings import Settings

KEY = "sk-or-v1-shared-budget-secret-0123456789"


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def store_clock() -> Clock:
    return Clock()


@pytest.fixture
def store(tmp_path: Path, store_clock: Clock) -> SqliteBudgetStore:
    return SqliteBudgetStore(f"sqlite:///{tmp_path}/budget.sqlite3", clock=store_clock)


def pacer_on(store: SqliteBudgetStore, clock: Clock, rpm: float = 60, tpm: int = 0) -> SharedPacer:
    return SharedPacer(store, "b1", Rates.per_min(rpm, tpm), clock=clock)


def test_two_pacers_on_one_store_book_one_budget(store: SqliteBudgetStore, store_clock: Clock) -> None:
    a, b = pacer_on(store, store_clock), pacer_on(store, store_clock)  # 60/min: one a second
    slots = [p.reserve() for p in (a, b, a, a, b, b)]
    assert slots == [1000.0, 1001.0, 1002.0, 1003.0, 1004.0, 1005.0]  # one budget, not two
    assert (a.reservations, b.reservations) == (3, 3)
    assert a.wait_s_total == 0 + 2 + 3
    assert b.wait_s_total == 1 + 4 + 5
    # What the metrics read, without a round trip: as each last saw it (a missed b's last two)
    assert (a.backlog_seen_s(), b.backlog_seen_s()) == (4.0, 6.0)
    assert a.backlog_s() == b.backlog_s() == 6.0
    store_clock.now += 2.5
    assert a.backlog_seen_s() == 3.5  # seen again just now, and counted down since
    # a pacer with the same budget in another connection to the same file sees it too
    other = pacer_on(SqliteBudgetStore(store.address, clock=store_clock), store_clock)
    assert other.reserve() == 1006.0


def test_a_pacer_whose_clock_is_off_still_keeps_the_spacing(
    store: SqliteBudgetStore, store_clock: Clock
) -> None:
    here = pacer_on(store, store_clock)  # this machine's clock agrees with the store's
    ahead_clock = Clock(1000.0 + 3600)  # that machine's clock is an hour fast
    ahead = pacer_on(store, ahead_clock)
    assert here.reserve(lead_s=2) == 1002.0
    # The store's slot (1003) read as "3 s after the store's now", on that machine's clock.
    assert ahead.reserve(lead_s=2) == 1000.0 + 3600 + 3.0
    store_clock.now = ahead_clock.now = 1001.5
    assert here.reserve() == 1004.0
    assert ahead.reserve() == 1001.5 + 3.5  # the store's 1005, 3.5 s after its now: a slow clock too


def test_tokens_and_a_pause_hold_every_pacer_back(store: SqliteBudgetStore, store_clock: Clock) -> None:
    a, b = pacer_on(store, store_clock, rpm=600, tpm=6000), pacer_on(store, store_clock, rpm=600, tpm=6000)
    assert a.reserve(tokens=500) == 1000.0
    assert b.reserve(tokens=500) == 1005.0  # a's 500 tokens at 100/s: the token budget binds for b
    with capture_logs() as logs:
        a.pause(300, "payment_required")
    assert b.reserve() == 1300.0  # b never saw the 402, and holds back all the same
    assert logs == [
        {
            "event": "vlm.paused",
            "log_level": "error",
            "reason": "payment_required",
            "seconds": 300,
            "budget": "b1",
        }
    ]


def test_the_sqlite_store_runs_the_same_arithmetic_as_the_local_pacer(
    store: SqliteBudgetStore, store_clock: Clock
) -> None:
    local = LocalPacer(requests_per_min=90, tokens_per_min=9000, clock=store_clock)
    shared = pacer_on(store, store_clock, rpm=90, tpm=9000)
    for tokens, lead, step in [(100, 2, 0.0), (900, 0, 0.3), (0, 1, 5.0), (300, 0, 0.1), (2000, 0, 0)]:
        store_clock.now += step
        assert shared.reserve(tokens, lead) == local.reserve(tokens, lead)
        assert shared.backlog_s() == pytest.approx(local.backlog_s())


def test_book_is_pure() -> None:
    slots = Slots(5.0, 7.0, 0.0)
    at, after = book(slots, now=1.0, rates=Rates.per_min(60, 60), tokens=2, lead_s=0)
    assert (at, after) == (7.0, Slots(8.0, 9.0, 0.0))
    assert slots == Slots(5.0, 7.0, 0.0)


class DownStore:
    """A store that stopped answering (and counts how often it was asked)."""

    address = "redis://db.example:6379/0"

    def __init__(self) -> None:
        self.asked = 0
        self.up = False

    def _ask(self) -> None:
        self.asked += 1
        if not self.up:
            raise RateStoreDown(f"VLM rate store {self.address} did not answer: ConnectionError")

    def book(self, budget: str, rates: Rates, tokens: int, lead_s: float) -> Booking:
        self._ask()
        return Booking(2000.0 + lead_s, 2000.0)

    def backlog_s(self, budget: str) -> float:
        self._ask()
        return 0.0

    def pause(self, budget: str, seconds: float) -> None:
        self._ask()

    def ping(self) -> None:
        self._ask()

    def close(self) -> None:
        pass


class Engines:
    def paced_tokens(self, name: str, options: Mapping[str, object]) -> int | None:
        return 100 if name == "qwen" else None

    def operator_options(self, name: str) -> frozenset[str]:
        return frozenset()


def msg(i: int) -> Message:
    body = {"canonical_id": f"p{i}", "image_path": f"/x/{i}.png", "method": "qwen"}
    return Message(f"m{i}", f"r{i}", json.dumps(body), 1)


def test_a_store_that_is_down_hands_pages_back_and_is_left_alone_a_while() -> None:
    store, clock, mono = DownStore(), Clock(), Clock(0.0)
    pacer = SharedPacer(store, "b1", Rates.per_min(60), clock=clock, monotonic=mono)
    with capture_logs() as logs:
        work = plan([msg(i) for i in range(5)], Settings(method="null"), pacer, Engines())
    assert work.dispatches == []  # nothing is sent unbooked
    assert [r.outcome.kind for r in work.deferred] == ["throttled"] * 5  # back later, no attempt counted
    first = work.deferred[0].outcome
    assert isinstance(first, Throttled)
    assert first.retry_after_s == shared_module.HAND_BACK_S
    assert "redis://db.example:6379/0 did not answer" in first.error
    assert store.asked == 1  # the other four pages did not wait on a dead store each
    assert pacer.backlog_seen_s() == 0.0  # what the metrics read: never asks the store
    assert store.asked == 1
    assert [e["event"] for e in logs] == ["vlm.rate_store_down"]

    mono.now = shared_module.RETRY_S + 0.1  # later, the store is asked again, and is back
    store.up = True
    assert pacer.reserve(lead_s=2) == 1002.0  # the store's "2 s from now", on this clock


def test_a_pause_the_store_cannot_take_still_holds_this_consumer_back() -> None:
    store, clock, mono = DownStore(), Clock(), Clock(0.0)
    pacer = SharedPacer(store, "b1", Rates.per_min(60), clock=clock, monotonic=mono)
    with capture_logs() as logs:
        pacer.pause(120, "rate_limited")  # no exception: outcomes are being settled
    assert [e["event"] for e in logs] == ["vlm.rate_store_down", "vlm.pause_not_shared", "vlm.paused"]
    store.up = True
    mono.now = 100.0
    assert pacer.reserve() == 1120.0


def test_the_default_budget_name_reveals_neither_key_nor_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    one = budget_name(KEY, "https://openrouter.ai/api/v1")
    assert one == budget_name(KEY, "https://openrouter.ai/api/v1/")
    assert len({one, budget_name(KEY + "x", "https://openrouter.ai/api/v1"), budget_name(KEY, "")}) == 3
    assert KEY not in one
    assert "openrouter" not in one

    monkeypatch.setenv("OPENROUTER_API_KEY", KEY)
    store_file = tmp_path / "b.sqlite3"
    pacer = open_pacer(Settings(method="null", vlm_rate_store=str(store_file)))
    assert isinstance(pacer, SharedPacer)
    assert pacer.budget == budget_name(KEY, "https://openrouter.ai/api/v1")  # unset: the workers' default
    explicit = open_pacer(
        Settings(method="null", vlm_rate_store=str(store_file), vlm_base_url="https://openrouter.ai/api/v1")
    )
    assert explicit.budget == pacer.budget  # written out or not, one endpoint is one budget
    explicit.close()
    pacer.reserve(100)
    pacer.close()
    assert KEY.encode() not in b"".join(p.read_bytes() for p in tmp_path.iterdir())
    named = open_pacer(Settings(method="null", vlm_rate_store=str(store_file), vlm_rate_budget="team-a"))
    assert isinstance(named, SharedPacer)
    assert named.budget == "team-a"
    assert isinstance(open_pacer(Settings(method="null")), LocalPacer)  # no store: its own budget


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_store_that_does_not_answer_at_start_is_one_config_error() -> None:
    address = f"redis://:hunter2-password@127.0.0.1:{_closed_port()}/0"
    with pytest.raises(ConfigError) as caught:
        check_store(Settings(method="null", vlm_rate_store=address))
    said = str(caught.value)
    assert "\n" not in said
    assert "hunter2" not in said
    assert said.startswith(f"VLM rate store redis://127.0.0.1:{address.rsplit(':', 1)[1]} did not answer")
    assert "COMICOCR_VLM_RATE_STORE" in said
    with pytest.raises(ConfigError, match=r"memcached:// is not served"):
        check_store(Settings(method="null", vlm_rate_store="memcached://h:1"))
    with pytest.raises(ConfigError, match="not usable"):
        check_store(Settings(method="null", vlm_rate_store="/proc/no/such/dir/b.sqlite3"))


def test_addresses_are_shown_without_their_password() -> None:
    assert shown("redis://user:pw@h:6380/2") == "redis://h:6380/2"
    assert shown("rediss://:pw@h/0") == "rediss://h/0"
    assert shown("redis://h:6379/0") == "redis://h:6379/0"
    assert shown("redis://h:6379/0?password=WRONGpw99") == "redis://h:6379/0"  # redis-py reads it
    assert shown("redis://u:pw@h:abc/0") == "redis://..."  # unreadable: nothing of it


@pytest.mark.parametrize(
    ("address", "says"),
    [
        ("redis://user:s3cretPW@127.0.0.1:abc/0", "is not a redis URL"),
        ("redis://u:s3cretPW@[::1/0", "is not a redis URL"),
        ("redis:127.0.0.1:6379", "neither a URL nor a file"),  # a typo must not become a local file
        ("redis//127.0.0.1", "neither a URL nor a file"),
        ("/dev/null", "neither a URL nor a file"),
        ("amqp://h/q", "amqp:// is not served"),
    ],
)
def test_unusable_rate_store_addresses_are_one_line(
    address: str, says: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    s = Settings(method="null", vlm_rate_store=address)
    with pytest.raises(ConfigError, match=says) as caught:
        check_store(s)
    assert "s3cretPW" not in str(caught.value)
    assert list(tmp_path.iterdir()) == []


def test_a_pause_the_store_missed_still_spaces_the_slots_after_it(
    store: SqliteBudgetStore, store_clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The store was down when the 402/429 came: the pause stays with this consumer, and the
    slots it books once the store is back are spaced after it, not stacked on its end."""
    mono = Clock(0.0)
    pacer = SharedPacer(store, "b1", Rates.per_min(20, 0), clock=store_clock, monotonic=mono)  # one every 3 s
    with monkeypatch.context() as m:

        def down(*_args: object) -> None:
            raise RateStoreDown("store down")

        m.setattr(store, "pause", down)
        pacer.pause(60, "rate_limited")
    mono.now += 10  # past the time a failed store is left alone
    slots = [pacer.reserve() for _ in range(4)]
    assert slots == [1060.0, 1063.0, 1066.0, 1069.0]
    assert pacer.backlog_s() >= 60  # the planner's horizon sees the pause too


def test_a_local_pause_counts_in_the_backlog() -> None:
    clock = Clock()
    pacer = LocalPacer(20, clock=clock)
    pacer.pause(300, "payment_required")
    assert pacer.backlog_s() == 300.0  # pages past the horizon are handed back, not booked at its end
