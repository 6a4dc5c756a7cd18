"""Enqueueing the same pages twice (an interrupted backfill run again) sends each page once,
on the embedded queue and on an SQS FIFO queue; on a standard SQS queue, pages whose result
exists are skipped and counted."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
CLI = [str(Path(sys.executable).with_name("comicocr"))]


def cli(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args], cwd=cwd, check=False, capture_output=True, text=True, timeout=240, env=env
    )


def depths(queue: str, cwd: Path) -> dict[str, object]:
    done = cli("status", "--queue", queue, cwd=cwd)
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout))


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    from PIL import Image

    for i in range(12):  # distinct pixels: the flaky engine fails each image once
        Image.new("L", (64, 64), 10 * i).save(tmp_path / f"p{i}.png")
    rows = "".join(f"book/p{i},p{i}.png\n" for i in range(12))
    (tmp_path / "manifest.csv").write_text("canonical_id,absolute_image_path\n" + rows)
    return tmp_path


def test_embedded_queue_takes_each_waiting_page_once(workdir: Path) -> None:
    queue = "sqlite:///q.sqlite3"
    first = cli("enqueue", "--queue", queue, "--manifest", "manifest.csv", cwd=workdir)
    assert first.returncode == 0, first.stderr
    again = cli("enqueue", "--queue", queue, "--manifest", "manifest.csv", cwd=workdir)
    assert again.returncode == 0, again.stderr
    assert "enqueued 0 pages" in again.stdout
    assert "not sent again: 12 already waiting in the queue" in again.stdout
    assert depths(queue, workdir)["visible"] == 12


def test_run_after_an_interrupted_enqueue_sends_nothing_twice(workdir: Path) -> None:
    # What a run killed after its enqueue leaves: every page waiting in the default queue.
    left = cli(
        "enqueue", "--queue", "sqlite:///.comicocr/queue.sqlite3", "--manifest", "manifest.csv", cwd=workdir
    )
    assert left.returncode == 0, left.stderr
    rerun = cli("run", "--manifest", "manifest.csv", "--output", "out", "--method", "null", cwd=workdir)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert "not sent again: 12 pages already waiting in the queue" in rerun.stdout
    assert "done: 12 of 12 pages have results" in rerun.stdout
    after = depths("sqlite:///.comicocr/queue.sqlite3", workdir)
    assert (after["visible"], after["in_flight"], after["delayed"]) == (0, 0, 0)  # no repeats left behind


def test_fifo_queue_takes_each_page_once_and_retries_still_arrive(workdir: Path, queue_address: str) -> None:
    queue = f"{queue_address}.fifo"
    for _ in range(2):
        sent = cli("enqueue", "--queue", queue, "--manifest", "manifest.csv", cwd=workdir)
        assert sent.returncode == 0, sent.stderr
    assert depths(queue, workdir)["visible"] == 12  # SQS dropped the second sends
    # Every page fails once (a retry is a re-send, which deduplication must not drop).
    env = {
        **os.environ,
        "COMICOCR_ENGINE_OPTIONS": json.dumps({"failures": 1, "state_dir": str(workdir)}),
        "COMICOCR_BACKOFF_BASE_S": "1",
    }
    args = ["consume", "--queue", queue, "--until-idle", "--method", "fault_flaky", "--output", "out"]
    consumed = cli(*args, cwd=workdir, env=env)
    assert consumed.returncode == 0, consumed.stdout + consumed.stderr
    assert len(list((workdir / "out").rglob("*_ocr.json"))) == 12
    after = depths(queue, workdir)
    assert (after["visible"], after["in_flight"], after["dead_lettered"]) == (0, 0, 0)


def test_standard_queue_skips_pages_that_have_results(workdir: Path, queue_address: str) -> None:
    out = workdir / "out" / "book"
    out.mkdir(parents=True)
    for i in range(5):
        (out / f"p{i}_ocr.json").write_text("{}")
    queue = f"sqs://t-{uuid.uuid4().hex[:12]}"
    sent = cli("enqueue", "--queue", queue, "--manifest", "manifest.csv", "--output", "out", cwd=workdir)
    assert sent.returncode == 0, sent.stderr
    assert "enqueued 7 pages" in sent.stdout
    assert "5 already have results" in sent.stdout
    assert depths(queue, workdir)["visible"] == 7
