"""The planner: received messages -> chunks, deferred VLM pages, poison, fan-outs (no I/O)."""

from __future__ import annotations

import json
from collections.abc import Mapping

from comicocr.consumer.planner import plan
from comicocr.contract import Failed, Throttled
from comicocr.errors import ErrorClass
from comicocr.messages import COLLISION_ATTR, PageMessage, RefusedRecord
from comicocr.queues.base import Message
from comicocr.ratelimit import LocalPacer
from comicocr.settings import Settings


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Engines:
    """A catalog where only qwen is paced, and its base_url is the operator's."""

    def paced_tokens(self, name: str, options: Mapping[str, object]) -> int | None:
        return 100 if name == "qwen" else None

    def operator_options(self, name: str) -> frozenset[str]:
        return frozenset({"base_url"}) if name == "qwen" else frozenset()


paced_vlm = Engines()


def msg(i: int, **body: object) -> Message:
    return Message(
        f"m{i}", f"r{i}", json.dumps({"canonical_id": f"p{i}", "image_path": f"/x/{i}.png", **body}), 1
    )


def test_pages_group_by_what_they_share_and_keep_their_messages() -> None:
    s = Settings(workers=2, max_chunk=25, method="null")
    batch = [msg(i) for i in range(4)] + [msg(4, lang="fr"), msg(5, options={"psm": 6}, method="tesseract")]
    work = plan(batch, s, LocalPacer(20), paced_vlm)
    shapes = sorted(
        (d.chunk.spec.engine.name, d.chunk.spec.engine.lang, len(d.messages)) for d in work.dispatches
    )
    assert shapes == [("null", "en", 2), ("null", "en", 2), ("null", "fr", 1), ("tesseract", "en", 1)]
    for d in work.dispatches:
        assert [p.key for p in d.chunk.pages] == [str(i) for i in range(len(d.messages))]
        assert [p.canonical_id for p in d.chunk.pages] == [
            json.loads(m.body)["canonical_id"] for m in d.messages
        ]
    tess = next(d for d in work.dispatches if d.chunk.spec.engine.name == "tesseract")
    assert dict(tess.chunk.spec.engine.options) == {"psm": 6}
    assert tess.chunk.spec.max_image_pixels == s.max_image_pixels
    assert work.pages == 6
    assert work.deferred == work.poison == work.fan_out == []


def test_poison_and_s3_events_are_settled_without_a_run() -> None:
    records = [
        {"eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": "b"}, "object": {"key": f"c/p{i}.png"}}}
        for i in range(3)
    ]
    batch = [
        Message("bad", "r", "{not json", 1),
        Message("ev", "r2", json.dumps({"Records": records}), 1),
        Message("test", "r3", json.dumps({"Event": "s3:TestEvent"}), 1),
    ]
    work = plan(batch, Settings(method="null"), LocalPacer(20), paced_vlm)
    assert [(m.id, "not JSON" in why, cid) for m, why, cid in work.poison] == [("bad", True, None)]
    assert [
        (m.id, [p.canonical_id for p in pages if isinstance(p, PageMessage)]) for m, pages in work.fan_out
    ] == [
        ("ev", ["b/c/p0.png", "b/c/p1.png", "b/c/p2.png"]),
        ("test", []),
    ]
    assert work.dispatches == []


def record(key: str, bucket: str = "b") -> dict[str, object]:
    return {"eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": bucket}, "object": {"key": key}}}


def event(i: int, *records: dict[str, object], **attributes: str) -> Message:
    return Message(f"ev{i}", f"r{i}", json.dumps({"Records": list(records)}), 1, attributes)


def test_each_record_of_an_event_has_its_own_outcome() -> None:
    s = Settings(method="null")
    batch = [
        event(0, record("c/p1.png"), record("c/../p2.png")),  # a good key and a bad one
        event(1, record("c/../p3.png")),  # a bad key alone
        event(2, record("c/p4.png"), record("c/notes.txt")),  # one page: run in place
    ]
    work = plan(batch, s, LocalPacer(20), paced_vlm)
    [(message, items)] = work.fan_out
    assert message.id == "ev0"
    good, bad = items
    assert isinstance(good, PageMessage)
    assert good.canonical_id == "b/c/p1.png"
    assert isinstance(bad, RefusedRecord)
    assert bad.record == record("c/../p2.png")
    # the bad key alone is poison, named; the one-page event runs
    assert [(m.id, why.split(":")[0], cid) for m, why, cid in work.poison] == [
        ("ev1", "S3 key 'c/../p3.png' is not a safe canonical_id", None)
    ]
    assert [p.canonical_id for d in work.dispatches for p in d.chunk.pages] == ["b/c/p4.png"]


def test_the_bucket_may_be_left_out_of_event_ids() -> None:
    work = plan(
        [event(0, record("c/p4.png"))],
        Settings(method="null", event_ids_without_bucket=True),
        LocalPacer(20),
        paced_vlm,
    )
    assert [p.canonical_id for d in work.dispatches for p in d.chunk.pages] == ["c/p4.png"]


def test_collisions_are_dead_lettered_not_run() -> None:
    s = Settings(method="null", event_ids_without_bucket=True)
    batch = [
        event(0, record("c/p1.png", "a")),
        event(1, record("c/p1.png", "b")),  # the same key in another bucket: the same id
        event(2, record("c/p1.png", "a")),  # a repeat of the first: not a collision
        event(3, record("c/p2.png", "a"), **{COLLISION_ATTR: "id collision: told by its event"}),
    ]
    work = plan(batch, s, LocalPacer(20), paced_vlm)
    assert [p.image_path for d in work.dispatches for p in d.chunk.pages] == [
        "s3://a/c/p1.png",
        "s3://a/c/p1.png",
    ]
    got = [(r.message.id, r.outcome) for r in work.deferred]
    assert [(i, o.kind, o.canonical_id) for i, o in got] == [
        ("ev1", "failed", "c/p1.png"),
        ("ev3", "failed", "c/p2.png"),
    ]
    assert all(isinstance(o, Failed) and o.error_class is ErrorClass.PERMANENT for _, o in got)
    assert "s3://b/c/p1.png and s3://a/c/p1.png (same batch)" in got[0][1].error  # type: ignore[union-attr]
    assert got[1][1].error == "id collision: told by its event"  # type: ignore[union-attr]
    # a page body is never taken for a marked event record
    plain = Message(
        "m", "r", json.dumps({"canonical_id": "x", "image_path": "/x.png"}), 1, {COLLISION_ATTR: "no"}
    )
    assert plan([plain], s, LocalPacer(20), paced_vlm).deferred == []


def test_paced_pages_book_slots_and_defer_past_the_horizon() -> None:
    clock = Clock()
    pacer = LocalPacer(requests_per_min=60, clock=clock)  # one slot a second
    s = Settings(
        method="qwen",
        task_timeout_s=10,  # horizon: slots booked up to 5 s ahead
        visibility_timeout_s=60,
        vlm_max_concurrent=3,
        vlm_dispatch_lead_s=1,
        vlm_model="m/x",
    )
    work = plan([msg(i) for i in range(9)], s, pacer, paced_vlm)
    sent = [p.send_at for d in work.dispatches for p in d.chunk.pages]
    assert sent == [1001.0, 1002.0, 1003.0, 1004.0, 1005.0]  # the next would be 6 s ahead
    assert [len(d.messages) for d in work.dispatches] == [3, 2]
    assert dict(work.dispatches[0].chunk.spec.engine.options) == {"model": "m/x"}  # VLM settings as options
    assert [(r.message.id, r.engine, r.outcome.kind) for r in work.deferred] == [
        ("m5", "qwen", "throttled"),
        ("m6", "qwen", "throttled"),
        ("m7", "qwen", "throttled"),
        ("m8", "qwen", "throttled"),
    ]
    assert all(isinstance(r.outcome, Throttled) and r.outcome.retry_after_s > 5 for r in work.deferred)
