"""``comicocr status`` as a user runs it, on SQS (LocalStack) and on the embedded queue.

LocalStack as scripts/localstack starts it (SERVICES=sqs,s3) has no CloudWatch: the oldest
message's age and the pages per minute are then unknown, and status must say null / n/a rather
than a number. With CloudWatch enabled LocalStack has NumberOfMessagesDeleted (pages per minute)
but still no ApproximateAgeOfOldestMessage.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest

from comicocr.consumer.acker import Action, apply
from comicocr.errors import ErrorClass
from comicocr.queues.base import Outgoing
from comicocr.queues.sqs import SQSQueue

pytestmark = pytest.mark.integration
CLI = [str(Path(sys.executable).with_name("comicocr"))]


def cloudwatch_runs(endpoint: str) -> bool:
    with urllib.request.urlopen(f"{endpoint}/_localstack/health", timeout=5) as resp:
        return json.loads(resp.read()).get("services", {}).get("cloudwatch") in ("running", "available")


def status(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, "status", *args], cwd=cwd, check=False, capture_output=True, text=True, timeout=120
    )


def status_json(queue: str, cwd: Path | None = None) -> dict[str, Any]:
    done = status("--queue", queue, "--json", cwd=cwd)
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.strip().splitlines()) == 1
    return dict(json.loads(done.stdout))


async def test_status_on_sqs_counts_dead_letters_by_class_and_hides_none(
    queue_address: str, sqs_server: str
) -> None:
    queue = SQSQueue(queue_address)
    await queue.ensure()
    try:
        await queue.send_batch([Outgoing(f"page {i}") for i in range(6)])
        got: list[Any] = []
        while len(got) < 4:
            got += await queue.receive(4 - len(got), 1, visibility_s=300)
        # The acker dead-letters three (it writes comicocr-error-class) and finishes one.
        classes = [ErrorClass.PERMANENT, ErrorClass.PERMANENT, ErrorClass.POISON]
        actions = [
            Action("dead", m, f"p{i}", c, "why")
            for i, (m, c) in enumerate(zip(got[:3], classes, strict=True))
        ]
        result = await apply(queue, [*actions, Action("delete", got[3])])
        assert not result.unsettled
        await queue.dead_letters.send_batch([Outgoing("moved by the safety net")])  # no class
        await queue.send_batch([Outgoing("later", delay_s=60)])

        out = status_json(queue_address)
        cloudwatch = cloudwatch_runs(sqs_server)
        deadline = time.monotonic() + 60
        while cloudwatch and out["pages_per_min"]["15m"] is None and time.monotonic() < deadline:
            time.sleep(2)  # CloudWatch's figures come a little later
            out = status_json(queue_address)
        assert out["queue"] == queue_address
        assert (out["visible"], out["in_flight"], out["delayed"], out["dead_lettered"]) == (2, 0, 1, 4)
        assert out["dead_by_class"] == {"permanent": 2, "poison": 1, "unclassified": 1}
        assert out["dead_by_class_sampled"] is False
        if cloudwatch:  # four deletes (three dead-lettered pages, one done), all in a minute or two
            assert out["pages_per_min"]["15m"] == round(4 / 15, 2)
            assert out["oldest_age_s"] is None or out["oldest_age_s"] >= 0
        else:  # no CloudWatch on this server: unknown, not zero
            assert out["oldest_age_s"] is None
            assert out["pages_per_min"] == {"1m": None, "5m": None, "15m": None}

        # The peek handed every dead letter straight back: all of them can be received now.
        seen: set[str] = set()
        for _ in range(5):
            seen |= {m.id for m in await queue.dead_letters.receive(10, 1, visibility_s=60)}
        assert len(seen) == 4

        # A capped peek (or one that cannot see the dead letters in flight) says it is a sample.
        await queue.dead_letters.send_batch([Outgoing("more", {"comicocr-error-class": "permanent"})] * 3)
        sampled = await queue.stats(dead_peek=2)
        assert sampled.depths.dead == 7
        assert sampled.dead_by_class == {"permanent": 2}
        assert sampled.dead_by_class_sampled

        shown = status("--queue", queue_address, "--table")
        assert shown.returncode == 0, shown.stderr
        if not cloudwatch:
            assert "pages/min       1m n/a   5m n/a   15m n/a" in shown.stdout
            assert "oldest message  n/a" in shown.stdout
    finally:
        await queue.close()


def test_status_of_a_queue_that_is_not_there_is_one_line_and_creates_nothing(tmp_path: Path) -> None:
    name = f"t-{uuid.uuid4().hex[:12]}"
    for queue, says in [
        (f"sqs://{name}", f"no SQS queue named '{name}'"),
        ("sqlite:///q/queue.sqlite3", "no queue file q/queue.sqlite3"),
    ]:
        done = status("--queue", queue, "--json", cwd=tmp_path)
        assert done.returncode == 2, done.stdout + done.stderr
        assert done.stdout == ""
        assert done.stderr.strip().splitlines() == [done.stderr.strip()]
        assert says in done.stderr
    assert list(tmp_path.iterdir()) == []
    assert status("--queue", f"sqs://{name}").returncode == 2  # still not created


def test_status_after_a_run_on_the_embedded_queue(tmp_path: Path, sample_pages: Path) -> None:
    for page in sample_pages.glob("page_00[12].*"):
        shutil.copy(page, tmp_path)
    (tmp_path / "manifest.csv").write_text(
        "canonical_id,absolute_image_path\nbook/p1,page_001.png\nbook/p2,page_002.png\n"
    )
    ran = subprocess.run(
        [*CLI, "run", "--manifest", "manifest.csv", "--output", "out", "--method", "null"],
        cwd=tmp_path,
        check=False,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    queue = "sqlite:///.comicocr/queue.sqlite3"
    out = status_json(queue, cwd=tmp_path)
    assert (out["visible"], out["in_flight"], out["delayed"], out["dead_lettered"]) == (0, 0, 0, 0)
    assert out["dead_by_class"] == {}
    assert out["oldest_age_s"] is None  # empty
    # Two pages deleted a moment ago; a new file has no unknown past. (The last minute may
    # reach back into the minute they were deleted in, which then counts only in part.)
    rates = out["pages_per_min"]
    assert 0 < rates["1m"] <= 2.0
    assert (rates["5m"], rates["15m"]) == (0.4, round(2 / 15, 2))

    shown = status("--queue", queue, cwd=tmp_path)  # not a terminal: JSON, as status always printed
    assert json.loads(shown.stdout).keys() == out.keys()
    table = status("--queue", queue, "--table", cwd=tmp_path).stdout
    assert "oldest message  n/a" in table
    assert "5m 0.4   15m 0.1" in table
