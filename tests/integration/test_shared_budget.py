"""One VLM budget shared by several consumers through a real Redis on 127.0.0.1 (and a SQLite
file): the Lua booking, atomic across processes, two consumer processes against a
rate-limited VLM server, and a Redis that goes away in the middle of a run."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from subprocess import Popen
from typing import Any

import pytest
import redis

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from comicocr.consumer import Consumer
from comicocr.engines import CATALOG
from comicocr.messages import PageMessage
from comicocr.producer import enqueue_pages
from comicocr.queues.sqs import SQSQueue
from comicocr.ratelimit import Rates, RateStoreDown, SharedPacer
from comicocr.ratelimit import shared as shared_module
from comicocr.ratelimit.redis_store import KEY_PREFIX, RedisBudgetStore
from comicocr.settings import Settings
from vlm_server import FakeVLM, ServerThread

from .conftest import COMICOCR, comicocr

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def budget() -> str:
    return f"t-{uuid.uuid4().hex[:12]}"


def test_redis_books_on_its_own_clock_with_the_same_arithmetic(redis_url: str) -> None:
    store = RedisBudgetStore(redis_url)
    name = budget()
    here = SharedPacer(store, name, Rates.per_min(60))  # one a second
    skewed = SharedPacer(store, name, Rates.per_min(60), clock=lambda: time.time() + 3600)
    try:
        slots = [here.reserve(lead_s=2) for _ in range(3)]
        later = skewed.reserve(lead_s=2) - 3600  # on a clock an hour fast: the same budget
        gaps = [b - a for a, b in itertools.pairwise([*slots, later])]
        # (each slot is read on this clock up to a round trip late: a loaded machine may add ms)
        assert gaps == pytest.approx([1.0, 1.0, 1.0], abs=0.05)
        assert 1.5 < slots[0] - time.time() <= 2.05  # the lead, not sooner
        assert here.backlog_s() == pytest.approx(slots[0] + 4 - time.time(), abs=0.2)

        tokens = SharedPacer(store, budget(), Rates.per_min(600, 6000))  # 100 tokens/s
        first = tokens.reserve(tokens=500)
        assert tokens.reserve() - first == pytest.approx(5.0, abs=0.05)  # the token budget binds

        here.pause(300, "payment_required")
        assert skewed.reserve() - 3600 - time.time() == pytest.approx(300, abs=0.3)  # both held back
        with redis.Redis.from_url(redis_url) as r:
            assert r.hgetall(KEY_PREFIX + name).keys() == {b"next_request", b"next_tokens", b"resume_at"}
            assert 300_000 < r.pttl(KEY_PREFIX + name) <= 362_000  # gone a minute after its last slot
    finally:
        store.close()


BOOKER = """
import json, random, sys, time
from comicocr.ratelimit import Rates, open_store
store = open_store(sys.argv[1])
rates = Rates.per_min(1200)  # a slot every 50 ms
while time.time() < float(sys.argv[3]):
    time.sleep(0.002)
slots = []
for _ in range(100):  # a few ms apart: the two processes' bookings overlap all along
    slots.append(store.book(sys.argv[2], rates, 0, 0.0).at)
    time.sleep(random.random() * 0.004)
print(json.dumps(slots))
"""


@pytest.mark.parametrize("kind", ["redis", "sqlite"])
def test_two_processes_booking_at_once_never_share_a_slot(kind: str, redis_url: str, tmp_path: Path) -> None:
    address = redis_url if kind == "redis" else f"sqlite:///{tmp_path}/budget.sqlite3"
    start = time.time() + 2.5  # both are past their imports by then, and book side by side
    bookers = [
        subprocess.Popen(
            [sys.executable, "-c", BOOKER, address, "one-budget", str(start)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    got = [json.loads(p.communicate(timeout=60)[0]) for p in bookers]
    slots = sorted(got[0] + got[1])
    assert len(slots) == 200
    gaps = [b - a for a, b in itertools.pairwise(slots)]
    assert min(gaps) == pytest.approx(0.05, abs=1e-5)  # one budget: evenly spaced, none shared
    assert max(gaps) == pytest.approx(0.05, abs=1e-5)
    assert min(got[1]) < max(got[0])  # they did book at the same time
    assert min(got[0]) < max(got[1])


# -- two consumer processes, one server limit -------------------------------------------------------


def max_in_window(times: list[float], window_s: float) -> int:
    """The most requests any ``window_s`` of the server's clock saw (what its limit counts)."""
    return max(sum(1 for t in times if start <= t < start + window_s) for start in times)


def consumer(queue: str, out: Path, server: ServerThread, key: str, name: str, store: str | None) -> Popen:
    env = {
        **os.environ,
        "OPENROUTER_API_KEY": key,
        "COMICOCR_VLM_BASE_URL": server.base_url,
        "COMICOCR_VLM_MODEL": f"m/{name}",  # tells the two consumers' requests apart at the server
        "COMICOCR_VLM_REQUESTS_PER_MIN": "80",  # each alone: under the server's 120/min
        "COMICOCR_ENGINE_OPTIONS": json.dumps({"max_side": 400, "max_retries": 6, "max_wait_s": 2}),
        "COMICOCR_POLL_WAIT_S": "1",
        "COMICOCR_BATCH_WINDOW_S": "0.3",
        # The whole queue in one batch: one Lithops job, its slots booked at once. (Small batches
        # two at a time wait for each other's job on localhost: their slots can pass meanwhile.)
        "COMICOCR_BATCH_SIZE": "50",
        "COMICOCR_VLM_DISPATCH_LEAD_S": "4",  # room for a slow job start on a busy machine
    }
    env.pop("COMICOCR_VLM_RATE_STORE", None)
    args = ["consume", "--queue", queue, "--until-idle", "--method", "qwen", "--output", str(out / "results")]
    args += ["--workers", "2", *(["--vlm-rate-store", store] if store else [])]
    out.mkdir()
    with (out / "stdout").open("w") as stdout, (out / "stderr").open("w") as stderr:
        return Popen([COMICOCR, *args], cwd=out, env=env, stdout=stdout, stderr=stderr, text=True)


async def fill(queue: str, image: Path, prefix: str, n: int) -> None:
    q = SQSQueue(queue)
    await q.ensure()
    pages = [PageMessage(canonical_id=f"{prefix}/p{i:02d}", image_path=str(image)) for i in range(n)]
    await enqueue_pages(q, pages)
    await q.close()


@dataclass
class TwoConsumers:
    sent: dict[str, list[float]]  # when the server got each consumer's requests (its clock)
    ended: dict[str, float]  # when each consumer process ended (the server's clock)
    said: dict[str, dict[str, Any]]  # each consumer's closing summary line

    def ran_side_by_side(self) -> bool:
        """Each consumer was still running when the other sent its first request."""
        return self.ended["a"] > min(self.sent["b"]) and self.ended["b"] > min(self.sent["a"])


def run_two_consumers(sample_pages: Path, tmp_path: Path, fake: FakeVLM, store: str | None) -> TwoConsumers:
    """Two `comicocr consume` processes, each on a queue of its own with 12 pages, one API key."""
    key = f"sk-or-v1-{uuid.uuid4().hex}"  # a budget of its own: its name is a hash of the key
    fake.api_key = key
    queues = {name: f"sqs://t-{uuid.uuid4().hex[:12]}" for name in "ab"}
    for name, queue in queues.items():
        asyncio.run(fill(queue, sample_pages / "page_001.png", name, 12))
    ended: dict[str, float] = {}
    with ServerThread(fake) as server:
        procs = {name: consumer(q, tmp_path / name, server, key, name, store) for name, q in queues.items()}
        deadline = time.monotonic() + 150
        while len(ended) < 2 and time.monotonic() < deadline:
            now = time.monotonic()
            ended |= {name: now for name, p in procs.items() if name not in ended and p.poll() is not None}
            time.sleep(0.05)
    said = {}
    for name, p in procs.items():
        if p.poll() is None:
            p.kill()
        stdout, stderr = ((tmp_path / name / f).read_text() for f in ("stdout", "stderr"))
        assert p.wait() == 0, stdout + stderr[-3000:]
        assert key not in stdout + stderr
        said[name] = json.loads(stdout)
    sent: dict[str, list[float]] = {"a": [], "b": []}
    for (t, _), body in zip(fake.log, fake.bodies, strict=True):  # in step: one of each a request
        sent[body["model"][-1]].append(t)
    return TwoConsumers(sent, ended, said)


def test_two_consumers_sharing_one_budget_stay_under_the_servers_limit(
    sample_pages: Path, tmp_path: Path, redis_url: str
) -> None:
    fake = FakeVLM(rpm_limit=10, window_s=5)  # 120/min, counted over any 5 s
    run = run_two_consumers(sample_pages, tmp_path, fake, redis_url)
    times = fake.ok_times()
    combined = (len(times) - 1) / (times[-1] - times[0]) * 60
    print(
        f"shared budget: 2 consumers at 80/min each, one budget of 80/min: {combined:.1f}/min combined,"
        f" at most {max_in_window(times, 5)} in 5 s (limit 10), 429s {fake.count(429)}"
    )
    assert run.ran_side_by_side()  # else one budget would be kept trivially
    assert fake.count(429) == 0  # the server never had to refuse one
    assert max_in_window(times, 5) <= 10
    assert combined <= 80 * 1.1  # the two together kept one budget, not two (160/min)
    assert [run.said[name]["done"] for name in "ab"] == [12, 12]
    assert len(list(tmp_path.rglob("*_ocr.json"))) == 24


def test_without_the_shared_store_the_same_two_consumers_exceed_the_limit(
    sample_pages: Path, tmp_path: Path
) -> None:
    """The counter-case: the test above can fail, and would without the shared budget."""
    fake = FakeVLM(rpm_limit=10, window_s=5)
    run = run_two_consumers(sample_pages, tmp_path, fake, store=None)
    sent = [t for t, _ in fake.log]
    print(f"own budgets: at most {max_in_window(sent, 5)} requests in 5 s (limit 10), 429s {fake.count(429)}")
    assert run.ran_side_by_side()
    assert max_in_window(sent, 5) > 10
    assert fake.count(429) > 0


# -- the store goes away in the middle of a run ---------------------------------------------------


class OwnRedis:
    """A Redis of this test's own, to stop and start again (others use the shared one)."""

    def __init__(self) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        args = ["--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no"]
        self.proc = subprocess.Popen(["redis-server", *args], stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with redis.Redis.from_url(self.url) as r:
                    r.ping()
                return
            except redis.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None


@pytest.fixture
def own_redis() -> Iterator[OwnRedis]:
    server = OwnRedis()
    server.start()
    yield server
    server.stop()


async def test_a_store_outage_mid_run_hands_pages_back_and_loses_none(
    queue_address: str,
    dispatcher: Any,
    sample_pages: Path,
    tmp_path: Path,
    own_redis: OwnRedis,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENROUTER_API_KEY", "sk-or-v1-outage-0123456789")
    monkeypatch.setattr(RateStoreDown, "retry_after_s", 1.0)  # pages handed back come again soon
    monkeypatch.setattr(shared_module, "RETRY_S", 0.5)
    fake = FakeVLM(api_key="sk-or-v1-outage-0123456789")
    queue = SQSQueue(queue_address)
    await queue.ensure()
    n = 10
    image = str(sample_pages / "page_001.png")
    await enqueue_pages(queue, [PageMessage(canonical_id=f"o/p{i}", image_path=image) for i in range(n)])
    with ServerThread(fake) as server:
        s = Settings(
            queue=queue_address,
            output=str(tmp_path),
            method="qwen",
            vlm_base_url=server.base_url,
            engine_options={"max_side": 400},
            vlm_requests_per_min=120,
            vlm_rate_store=own_redis.url,
            vlm_dispatch_lead_s=0.5,
            workers=2,
            batch_size=2,  # small batches, booked one after another: some while Redis is away
            max_inflight_batches=1,
            batch_window_s=0.2,
            poll_wait_s=1,
        )
        run = asyncio.create_task(Consumer(queue, dispatcher, s, engines=CATALOG, until_idle=True).run())
        while len(fake.ok_times()) < 2 and not run.done():
            await asyncio.sleep(0.05)
        await asyncio.to_thread(own_redis.stop)
        await asyncio.sleep(3)
        await asyncio.to_thread(own_redis.start)  # back, and empty: it forgot every booking
        stats = await asyncio.wait_for(run, 90)
    dead = await queue.dead_letters.receive(10, 0, 30)
    await queue.close()
    print(f"rate store outage: done {stats.outcomes['done']}, handed back {stats.outcomes['retry']}")
    assert stats.outcomes["done"] == n
    assert stats.outcomes["retry"] > 0  # pages came while Redis was away: handed back, not sent unbooked
    assert not dead
    assert len(list(tmp_path.rglob("*_ocr.json"))) == n



def test_a_store_that_does_not_answer_stops_run_before_anything_is_enqueued(
    sample_pages: Path, tmp_path: Path
) -> None:
    port = OwnRedis().port  # nothing listens there
    queue = tmp_path / "q.sqlite3"
    ran = comicocr(
        "run",
        "--manifest",
        str(sample_pages / "manifest.csv"),
        "--method",
        "null",
        "--output",
        "out",
        "--queue",
        f"sqlite:///{queue}",
        "--vlm-rate-store",
        f"redis://:s3cret-pass-9876@127.0.0.1:{port}/0",
        cwd=tmp_path,
    )
    assert ran.returncode == 2, ran.stdout + ran.stderr
    lines = [line for line in ran.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1
    assert f"VLM rate store redis://127.0.0.1:{port}/0 did not answer" in lines[0]
    assert "--vlm-rate-store" in lines[0]
    assert "s3cret" not in ran.stdout + ran.stderr
    assert "Traceback" not in ran.stderr
    assert not queue.exists()  # nothing enqueued
