"""Redrive against the real server: StartMessageMoveTask for the whole DLQ, receive-send-delete
with filters or another engine, and the redriven pages then succeed. Either way a redriven page
gets all its attempts again; another engine does not inherit the old one's options; --max caps
dry runs too (issue 15)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from comicocr.consumer import Consumer
from comicocr.consumer.redrive import redrive
from comicocr.engines import CATALOG
from comicocr.lithops_adapter import LithopsDispatcher
from comicocr.messages import PageMessage
from comicocr.producer import enqueue_pages
from comicocr.queues.base import Outgoing, Queue
from comicocr.queues.local import LocalQueue
from comicocr.queues.sqs import SQSQueue
from comicocr.settings import Settings

CLI = str(Path(sys.executable).with_name("comicocr"))

pytestmark = pytest.mark.integration


async def dead_letter(queue: SQSQueue, pages: list[tuple[str, str, str]]) -> None:
    await queue.dead_letters.send_batch(
        [
            Outgoing(
                json.dumps({"canonical_id": cid, "image_path": path, "method": "fault_crash"}),
                {"comicocr-error-class": cls, "comicocr-error": "boom", "comicocr-attempts": "3"},
            )
            for cid, path, cls in pages
        ]
    )


async def test_whole_dlq_moves_with_the_servers_move_task(queue_address: str, sample_pages: Path) -> None:
    queue = SQSQueue(queue_address)
    await queue.ensure()
    image = str(sample_pages / "page_001.png")
    await dead_letter(queue, [(f"p{i}", image, "retries_exhausted") for i in range(5)])
    report = await redrive(queue)
    assert (report.via, report.moved) == ("StartMessageMoveTask", 5)
    depths = await queue.depths()
    assert (depths.visible, depths.dead) == (5, 0)
    await queue.close()


async def test_filtered_redrive_with_another_engine_then_succeeds(
    queue_address: str, dispatcher: LithopsDispatcher, sample_pages: Path, tmp_path: Path
) -> None:
    queue = SQSQueue(queue_address)
    await queue.ensure()
    image = str(sample_pages / "page_001.png")
    await dead_letter(
        queue,
        [
            ("keep/p1", image, "permanent"),
            ("retry/p1", image, "retries_exhausted"),
            ("retry/p2", image, "retries_exhausted"),
        ],
    )
    dry = await redrive(queue, id_prefix="retry/", dry_run=True)
    assert sorted(i.canonical_id for i in dry.listed) == ["retry/p1", "retry/p2"]
    report = await redrive(queue, id_prefix="retry/", error_classes={"retries_exhausted"}, method="null")
    assert (report.via, report.moved) == ("receive-send-delete", 2)
    s = Settings(queue=queue_address, output=str(tmp_path), workers=2, batch_window_s=0.3, poll_wait_s=1)
    stats = await Consumer(queue, dispatcher, s, engines=CATALOG, until_idle=True).run()
    assert stats.outcomes["done"] == 2
    assert sorted(p.name for p in (tmp_path / "retry").iterdir()) == ["p1_ocr.json", "p2_ocr.json"]
    assert json.loads((tmp_path / "retry" / "p1_ocr.json").read_text())["ocr_method"] == "null"
    left = await queue.dead_letters.receive(10, 0, 30)
    assert [json.loads(m.body)["canonical_id"] for m in left] == ["keep/p1"]
    await queue.close()


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CLI, *args], check=False, capture_output=True, text=True, timeout=120)


def open_queue(kind: str, sqs_address: str, tmp_path: Path) -> tuple[str, Queue]:
    address = sqs_address if kind == "sqs" else f"sqlite:///{tmp_path}/q.sqlite3"
    return address, SQSQueue(address) if kind == "sqs" else LocalQueue(address)


@pytest.mark.parametrize(
    ("kind", "filters", "via"),
    [
        ("sqs", {}, "StartMessageMoveTask"),
        ("sqs", {"id_prefix": "book/"}, "receive-send-delete"),
        ("sqlite", {}, "receive-send-delete"),  # the embedded queue has no move task
    ],
)
async def test_a_redriven_page_gets_all_its_attempts_again(
    kind: str,
    filters: dict[str, Any],
    via: str,
    queue_address: str,
    dispatcher: LithopsDispatcher,
    sample_pages: Path,
    tmp_path: Path,
) -> None:
    """A page dead-lettered after its attempts, redriven either way, is tried max_attempts times
    again (before: the move task kept comicocr-attempts, and one failure sent it straight back)."""
    address, queue = open_queue(kind, queue_address, tmp_path)
    await queue.ensure()
    image = str(sample_pages / "page_001.png")
    await enqueue_pages(queue, [PageMessage(canonical_id="book/p1", image_path=image)])
    s = Settings(
        queue=address,
        output=str(tmp_path / "out"),
        workers=2,
        batch_window_s=0.3,
        poll_wait_s=1,
        max_attempts=2,
        backoff_base_s=0,
        method="fault_flaky",  # fails every time: state in tmp_path, set by the operator
        engine_options={"failures": 100, "state_dir": str(tmp_path)},
    )

    async def consume() -> tuple[int, str]:
        stats = await Consumer(queue, dispatcher, s, engines=CATALOG, until_idle=True).run()
        assert [(i, c) for i, c, _ in stats.dead] == [("book/p1", "retries_exhausted")]
        [dead] = await queue.dead_letters.receive(10, 0, 0)  # visibility 0: still there
        return stats.outcomes["retry"], dead.attributes["comicocr-attempts"]

    assert await consume() == (1, "2")
    report = await redrive(queue, **filters)
    assert (report.via, report.moved) == (via, 1)
    assert await consume() == (1, "2")  # one retry again, then the DLQ after its 2nd failure
    await queue.close()


async def test_another_engine_drops_the_old_engines_options(queue_address: str) -> None:
    """`redrive --method null` of pages that carry fault_slow's options: the options null does not
    take are dropped and said so (before: kept, and every page came back `bad options`)."""
    queue = SQSQueue(queue_address)
    await queue.ensure()
    body = {"image_path": "/x.png", "method": "fault_slow", "options": {"seconds": 0.01, "failures": 1}}

    async def dead_letters(*ids: str) -> None:
        await queue.dead_letters.send_batch(
            [
                Outgoing(json.dumps({"canonical_id": i, **body}), {"comicocr-error-class": "permanent"})
                for i in ids
            ]
        )

    async def take_options() -> list[tuple[str, dict[str, object]]]:
        got = await queue.receive(10, 0, 30)
        await queue.delete_batch([m.receipt for m in got])
        return sorted((json.loads(m.body)["method"], json.loads(m.body)["options"]) for m in got)

    await dead_letters("p0", "p1")
    # The CLI resolves the new engine by name, as an operator's shell does (fault engines on).
    same = cli("redrive", "--queue", queue_address, "--method", "fault_flaky", "--dry-run")
    assert "options: none dropped (engine 'fault_flaky' takes every option the pages set)" in same.stdout
    dry = cli("redrive", "--queue", queue_address, "--method", "null", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "options: would drop failures (2 pages), seconds (2 pages): engine 'null' does not take them" in (
        dry.stdout.splitlines()
    )
    moved = cli("redrive", "--queue", queue_address, "--method", "null")
    assert moved.returncode == 0, moved.stderr
    lines = moved.stdout.splitlines()
    assert "options: dropped failures (2 pages), seconds (2 pages): engine 'null' does not take them" in lines
    assert lines[-1] == "moved 2 messages (receive-send-delete)"
    assert await take_options() == [("null", {}), ("null", {})]

    await dead_letters("q0", "q1")  # --options replaces the pages' options
    again = cli(
        "redrive", "--queue", queue_address, "--method", "fault_slow", "--options", '{"seconds": 0.02}'
    )
    assert again.returncode == 0, again.stderr
    assert 'options: replaced with {"seconds": 0.02} on 2 pages' in again.stdout.splitlines()
    assert await take_options() == [("fault_slow", {"seconds": 0.02})] * 2

    # Options the new engine refuses or only the operator may set, an unknown engine: exit 2.
    await dead_letters("r0")
    for args, says in [
        (["--method", "null", "--options", '{"nope": 1}'], "bad --options for engine 'null': nope:"),
        (["--method", "fault_flaky", "--options", '{"state_dir": "/"}'], "only the consumer's operator"),
        (["--method", "null", "--options", "[1]"], "--options must be a JSON object"),
        (["--method", "nosuchengine"], "unknown OCR method 'nosuchengine'"),
    ]:
        refused = cli("redrive", "--queue", queue_address, *args)
        assert (refused.returncode, says in refused.stderr) == (2, True), refused.stderr
    assert (await queue.depths()).dead == 1
    await queue.close()


async def test_the_redriven_pages_with_another_engine_succeed(
    queue_address: str, dispatcher: LithopsDispatcher, sample_pages: Path, tmp_path: Path
) -> None:
    queue = SQSQueue(queue_address)
    await queue.ensure()
    image = str(sample_pages / "page_001.png")
    await queue.dead_letters.send_batch(
        [
            Outgoing(
                json.dumps(
                    {
                        "canonical_id": f"p{i}",
                        "image_path": image,
                        "method": "fault_slow",
                        "options": {"seconds": 9},
                    }
                ),
                {"comicocr-error-class": "retries_exhausted", "comicocr-attempts": "3"},
            )
            for i in range(2)
        ]
    )
    assert cli("redrive", "--queue", queue_address, "--method", "null").returncode == 0
    s = Settings(queue=queue_address, output=str(tmp_path), workers=2, batch_window_s=0.3, poll_wait_s=1)
    stats = await Consumer(queue, dispatcher, s, engines=CATALOG, until_idle=True).run()
    assert (stats.outcomes["done"], stats.dead) == (2, [])
    await queue.close()


@pytest.mark.parametrize("kind", ["sqs", "sqlite"])
async def test_max_caps_a_dry_run_too(kind: str, queue_address: str, tmp_path: Path) -> None:
    """`redrive --dry-run --max 2` of 12 dead letters (two receives' worth) lists 2 (before: 2 a
    receive, 4 here), and moves nothing."""
    address, queue = open_queue(kind, queue_address, tmp_path)
    await queue.ensure()
    for first in (0, 10):
        await queue.dead_letters.send_batch(
            [
                Outgoing(
                    json.dumps({"canonical_id": f"p{i:02}", "image_path": "/x.png"}),
                    {"comicocr-error-class": "permanent"},
                )
                for i in range(first, min(first + 10, 12))
            ]
        )
    dry = cli("redrive", "--queue", address, "--dry-run", "--max", "2")
    assert dry.returncode == 0, dry.stderr
    lines = dry.stdout.splitlines()
    assert (len([x for x in lines if x.startswith("would move: ")]), lines[-1]) == (
        2,
        "would move 2 messages (receive-send-delete)",
    )
    report = await redrive(queue, dry_run=True, max_messages=2)  # the library, on its own
    assert (len(report.listed), report.moved) == (2, 0)
    assert (await queue.depths()).dead == 12
    moved = await redrive(queue, max_messages=5)
    assert (moved.moved, len(moved.listed)) == (5, 5)
    await queue.close()
