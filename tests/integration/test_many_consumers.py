"""Many consumers on one SQS queue, as a backfill runs on several machines or processes:
every page done once, none lost, no dead letter. Two `comicocr consume` processes on one
machine also share Lithops' localhost backend, whose temp folder they used to share (and
race on: ModuleNotFoundError in a job, which then waited out the task timeout)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest

pytestmark = pytest.mark.integration
CLI = str(Path(sys.executable).with_name("comicocr"))
PAGES = 80


def test_two_consumers_share_one_queue_through_a_backfill(tmp_path: Path, queue_address: str) -> None:
    image = tmp_path / "page.png"
    from PIL import Image

    Image.new("RGB", (64, 64), "white").save(image)
    rows = [f"b/p{i:03d},{image}" for i in range(PAGES)]
    (tmp_path / "manifest.csv").write_text("canonical_id,absolute_image_path\n" + "\n".join(rows) + "\n")
    # A consumer holds what it has received (up to COMICOCR_BUFFER_SIZE, 200 by default) plus
    # what it runs: with a small buffer, a consumer that starts first does not take it all.
    env = {
        **os.environ,
        "COMICOCR_ENGINE_OPTIONS": json.dumps({"seconds": 0.15}),
        "COMICOCR_BUFFER_SIZE": "10",
    }
    sent = subprocess.run(
        [CLI, "enqueue", "--manifest", "manifest.csv", "--queue", queue_address],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert sent.returncode == 0, sent.stderr
    consume = [
        CLI, "consume", "--queue", queue_address, "--output", "out", "--method", "fault_slow", "--until-idle",
        "--workers", "1", "--batch-size", "10", "--allow-root", str(tmp_path),
    ]  # fmt: skip
    started = time.monotonic()
    procs = [
        subprocess.Popen(
            consume, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=240) for p in procs]
    elapsed = time.monotonic() - started
    for proc, (out, err) in zip(procs, outs, strict=True):
        assert proc.returncode == 0, out + err
        assert "ModuleNotFoundError" not in err
    summaries = [json.loads(out.strip().splitlines()[-1]) for out, _ in outs]
    done = [s.get("done", 0) for s in summaries]
    assert all(n > 0 for n in done), summaries  # both took part
    assert sum(done) == PAGES, summaries  # each page once: none lost, none done twice
    results = sorted(
        p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*_ocr.json")
    )
    assert results == [f"b/p{i:03d}_ocr.json" for i in range(PAGES)]
    sqs = boto3.client("sqs")
    name = queue_address.removeprefix("sqs://")
    for queue in (name, f"{name}-dlq"):
        url = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
        attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        assert attrs["ApproximateNumberOfMessages"] == "0", (queue, attrs)
        assert attrs["ApproximateNumberOfMessagesNotVisible"] == "0", (queue, attrs)
    assert elapsed < 200
