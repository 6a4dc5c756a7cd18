"""Operating it against real parts: /metrics scraped while `comicocr consume` works through an
SQS queue on LocalStack; skip-if-done on S3 by listing, not one request per page."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import boto3
import pytest

from comicocr import storage
from comicocr.storage import s3 as s3_store

from .conftest import comicocr

pytestmark = pytest.mark.integration
CLI = str(Path(sys.executable).with_name("comicocr"))


def _metric(text: str, name: str) -> float:
    found = re.search(rf"^{re.escape(name)} (\S+)$", text, re.M)
    return float(found.group(1)) if found else 0.0


def test_metrics_move_while_consume_works_through_an_sqs_queue(
    tmp_path: Path, sample_pages: Path, queue_address: str
) -> None:
    shutil.copy(sample_pages / "page_001.png", tmp_path)
    rows = "".join(f"book/p{i},page_001.png\n" for i in range(6))
    (tmp_path / "pages.csv").write_text("canonical_id,absolute_image_path\n" + rows)
    sent = comicocr("enqueue", "--queue", queue_address, "--manifest", "pages.csv", cwd=tmp_path)
    assert sent.returncode == 0, sent.stderr
    env = {**os.environ, "COMICOCR_ENGINE_OPTIONS": json.dumps({"seconds": 0.7})}
    consume = subprocess.Popen(
        [
            CLI,
            "consume",
            "--queue",
            queue_address,
            "--output",
            "out",
            "--method",
            "fault_slow",
            "--workers",
            "1",
            "--batch-size",
            "2",
            "--allow-root",
            str(tmp_path),
            "--until-idle",
            "--metrics-port",
            "0",
        ],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(consume.stderr or []), daemon=True)
    reader.start()
    url, seen = None, []
    deadline = time.monotonic() + 180
    try:
        while consume.poll() is None and time.monotonic() < deadline:
            if url is None:
                for line in list(lines):
                    if '"endpoint.listening"' in line:
                        url = json.loads(line)["url"]
            if url is not None:
                try:
                    with urllib.request.urlopen(f"{url}/metrics", timeout=5) as resp:
                        text = resp.read().decode()
                except OSError:  # the consumer just finished and closed its endpoint
                    break
                seen.append(_metric(text, 'comicocr_pages_total{engine="fault_slow",outcome="done"}'))
                last = text
            time.sleep(0.2)
        consume.wait(timeout=60)
    finally:
        consume.kill()
    reader.join(timeout=5)
    assert consume.returncode == 0, "".join(lines)[-2000:]
    assert url, "".join(lines)[-2000:]
    assert url.startswith("http://127.0.0.1:")
    # The counter moved while we watched: several distinct values, never going down.
    assert len(set(seen)) >= 2, seen
    assert seen == sorted(seen)
    assert 0 < max(seen) <= 6
    assert _metric(last, "comicocr_batch_duration_seconds_count") >= 1
    assert _metric(last, 'comicocr_engine_page_seconds_count{engine="fault_slow"}') >= max(seen)
    assert "comicocr_queue_messages{state=" in last
    done = [json.loads(line) for line in lines if '"page.done"' in line]
    assert sorted(d["canonical_id"] for d in done) == [f"book/p{i}" for i in range(6)]
    assert all(d["engine"] == "fault_slow" and d["duration_s"] >= 0.7 and d["batch_id"] for d in done)


def test_skip_if_done_on_s3_lists_each_prefix_once(bucket: str) -> None:
    s3 = boto3.client("s3")
    for i in range(0, 40, 2):
        s3.put_object(Bucket=bucket, Key=f"ocr/vol1/p{i}_ocr.json", Body=b"{}")
    s3.put_object(Bucket=bucket, Key="ocr/vol1/sub/p1_ocr.json", Body=b"{}")  # deeper: not p1's
    calls: list[str] = []
    client = s3_store.client()

    def count(event_name: str, **_: object) -> None:
        calls.append(event_name.rsplit(".", 1)[-1])

    client.meta.events.register("before-call.s3", count)
    try:
        ids = [f"vol1/p{i}" for i in range(40)]
        assert storage.existing_results(f"s3://{bucket}/ocr", ids) == {f"vol1/p{i}" for i in range(0, 40, 2)}
        assert calls == ["ListObjectsV2"]
        calls.clear()
        assert storage.existing_results(f"s3://{bucket}/ocr/", ["vol1/p0", "vol1/p1", "vol9/p0"]) == {
            "vol1/p0"
        }
        assert calls == ["HeadObject"] * 3  # a few pages: no listing of a prefix that may be huge
    finally:
        client.meta.events.unregister("before-call.s3", count)
