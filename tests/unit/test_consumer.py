"""The consumer's flow on the embedded queue, with an in-process dispatcher (no Lithops)."""

import asyncio
import json
from pathlib import Path
from typing import Any

from comicocr.consumer import Consumer
from comicocr.consumer.acker import ATTEMPTS_ATTR
from comicocr.contract import Chunk, Done, Failed, Outcome, Throttled
from comicocr.engines import CATALOG
from comicocr.errors import ErrorClass
from comicocr.idset import IdSet
from comicocr.queues.base import Outgoing
from comicocr.queues.local import LocalQueue
from comicocr.settings import Settings
from comicocr.worker import run_chunk


class InProcess:
    """Runs chunks in this process; ``flaky`` ids fail with a retryable error."""

    def __init__(self, flaky: set[str] = frozenset()) -> None:
        self.flaky = flaky
        self.calls = 0

    def run_chunks(self, chunks: list[Chunk]) -> list[list[Outcome]]:
        self.calls += 1
        out: list[list[Outcome]] = []
        for chunk in chunks:
            good = Chunk(chunk.spec, tuple(p for p in chunk.pages if p.canonical_id not in self.flaky))
            results = {o.key: o for o in run_chunk(good)}
            out.append(
                [
                    results.get(p.key)
                    or Failed(p.key, p.canonical_id, ErrorClass.RETRYABLE, "worker crashed")
                    for p in chunk.pages
                ]
            )
        return out


def settings(tmp_path: Path, **kw: Any) -> Settings:
    base = {
        "queue": f"sqlite:///{tmp_path}/q.sqlite3",
        "output": str(tmp_path / "out"),
        "method": "null",
        "batch_window_s": 0.1,
        "backoff_base_s": 0,
        "max_attempts": 2,
        "workers": 2,
    }
    return Settings(**{**base, **kw})


async def run(queue: LocalQueue, dispatcher: InProcess, s: Settings) -> Any:
    return await Consumer(queue, dispatcher, s, engines=CATALOG, until_idle=True).run()


async def test_pages_done_poison_and_missing_each_end_right(tmp_path: Path, sample_pages: Path) -> None:
    s = settings(tmp_path)
    queue = LocalQueue(s.queue_address)
    bodies = [
        json.dumps({"canonical_id": f"p{i}", "image_path": str(sample_pages / "page_001.png")})
        for i in range(5)
    ]
    bodies += ["{not json", json.dumps({"canonical_id": "gone", "image_path": str(tmp_path / "gone.png")})]
    await queue.send_batch([Outgoing(b) for b in bodies])
    stats = await run(queue, InProcess(), s)
    assert stats.outcomes["done"] == 5
    dead = {cls: (ident, reason) for ident, cls, reason in stats.dead}
    assert set(dead) == {"poison", "permanent"}
    assert dead["permanent"][0] == "gone"
    assert "image not found" in dead["permanent"][1]
    assert dead["poison"][0].startswith("message ")
    assert "not JSON" in dead["poison"][1]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [f"p{i}_ocr.json" for i in range(5)]
    depths = await queue.depths()
    assert (depths.pending, depths.dead) == (0, 2)
    await queue.close()


async def test_retryable_failures_retry_then_dead_letter(tmp_path: Path, sample_pages: Path) -> None:
    s = settings(tmp_path, max_attempts=3)
    queue = LocalQueue(s.queue_address)
    image = str(sample_pages / "page_001.png")
    await queue.send_batch(
        [Outgoing(json.dumps({"canonical_id": c, "image_path": image})) for c in ("ok", "bad")]
    )
    stats = await run(queue, InProcess(flaky={"bad"}), s)
    assert stats.outcomes["done"] == 1
    assert stats.outcomes["retry"] == 2
    assert [(ident, cls) for ident, cls, _ in stats.dead] == [("bad", "retries_exhausted")]
    dead = await queue.dead_letters.receive(10, 0, 30)
    assert dead[0].attributes[ATTEMPTS_ATTR] == "3"
    assert "worker crashed" in dead[0].attributes["comicocr-error"]
    await queue.close()


async def test_s3_event_with_many_objects_fans_out(tmp_path: Path) -> None:
    s = settings(tmp_path)
    queue = LocalQueue(s.queue_address)
    records = [
        {"eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": "b"}, "object": {"key": f"c/p{i}.png"}}}
        for i in range(3)
    ]
    await queue.send_batch([Outgoing(json.dumps({"Records": records}))])
    pages = {"b/c/p0.png", "b/c/p1.png", "b/c/p2.png"}
    stats = await run(queue, InProcess(flaky=pages), settings(tmp_path, max_attempts=1))
    # The event becomes three page messages, each settled on its own.
    assert stats.outcomes["fanned_out"] == 1
    assert sorted(ident for ident, _, _ in stats.dead) == sorted(pages)
    await queue.close()


async def test_a_run_ends_when_its_pages_are_settled_not_when_a_dead_runs_messages_expire(
    tmp_path: Path, sample_pages: Path
) -> None:
    s = settings(tmp_path)
    queue = LocalQueue(s.queue_address)
    image = str(sample_pages / "page_001.png")
    # A run killed mid-batch left its message in flight: hidden for the 900 s visibility timeout.
    await queue.send_batch([Outgoing(json.dumps({"canonical_id": "old", "image_path": image}))])
    assert len(await LocalQueue(s.queue_address).receive(10, 0, 900)) == 1
    await queue.send_batch(
        [Outgoing(json.dumps({"canonical_id": c, "image_path": image})) for c in ("a", "b")]
    )
    wanted = IdSet()
    for cid in ("a", "b"):
        wanted.add(cid)
    consumer = Consumer(queue, InProcess(), s, engines=CATALOG, until_idle=True, wanted=wanted)
    stats = await asyncio.wait_for(consumer.run(), 30)
    assert stats.outcomes["done"] == 2
    assert stats.waiting is not None
    assert len(stats.waiting) == 0
    assert not stats.interrupted
    assert (await queue.depths()).in_flight == 1  # the dead run's message is left for later
    await queue.close()


class Scripted:
    """Answers each page's n-th attempt with the n-th outcome of its script, as a VLM worker would."""

    def __init__(self, scripts: dict[str, list[Outcome]]) -> None:
        self.scripts = scripts

    def run_chunks(self, chunks: list[Chunk]) -> list[list[Outcome]]:
        from dataclasses import replace

        return [[replace(self.scripts[p.canonical_id].pop(0), key=p.key) for p in c.pages] for c in chunks]


async def test_every_vlm_request_is_counted_whatever_became_of_its_page(tmp_path: Path) -> None:
    s = settings(tmp_path)
    queue = LocalQueue(s.queue_address)
    await queue.send_batch([Outgoing(json.dumps({"canonical_id": c, "image_path": "x.png"})) for c in "ab"])
    out = str(tmp_path / "out")
    dispatcher = Scripted(
        {
            "a": [  # an unusable answer after a 500 (billed: 5 tokens), then an answer
                Failed("", "a", ErrorClass.RETRYABLE, "empty answer", usage={"total_tokens": 5}, requests=2),
                Done("", "a", out, usage={"total_tokens": 7}, requests=1),
            ],
            "b": [  # throttled 3 times, then an answer from a worker too old to count requests
                Throttled("", "b", "still throttled (429)", 0.0, requests=3),
                Done("", "b", out, usage={"total_tokens": 7}),
            ],
        }
    )
    stats = await asyncio.wait_for(Consumer(queue, dispatcher, s, engines=CATALOG, until_idle=True).run(), 30)
    assert stats.outcomes["done"] == 2
    assert (stats.vlm_requests, stats.vlm_answered, stats.vlm_tokens) == (2 + 1 + 3 + 1, 2, 5 + 7 + 7)
    await queue.close()
