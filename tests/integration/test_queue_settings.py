"""A consumer whose settings differ from the ones its queue was made with still uses the queue
(issue 15.9): `sqs://NAME` that exists is looked up and used as it is, and the visibility
timeout is applied per receive, never demanded of the queue's attributes."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import boto3
import pytest

from .conftest import comicocr

pytestmark = pytest.mark.integration


def test_another_visibility_timeout_does_not_lock_a_consumer_out(
    tmp_path: Path, sample_pages: Path, queue_address: str
) -> None:
    shutil.copy(sample_pages / "page_001.png", tmp_path)
    sent = comicocr(
        "enqueue", "--queue", queue_address, "--canonical-id", "p1", "--image", "page_001.png", cwd=tmp_path
    )
    assert sent.returncode == 0, sent.stderr
    env = {**os.environ, "COMICOCR_VISIBILITY_TIMEOUT_S": "6", "COMICOCR_TASK_TIMEOUT_S": "5"}
    started = time.monotonic()
    args = ["consume", "--queue", queue_address, "--output", "out", "--method", "null", "--until-idle"]
    done = comicocr(*args, "--allow-root", str(tmp_path), cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (tmp_path / "out" / "p1_ocr.json").is_file()
    assert time.monotonic() - started < 30, "waited on the queue's attributes"
    sqs = boto3.client("sqs")
    url = sqs.get_queue_url(QueueName=queue_address.removeprefix("sqs://"))["QueueUrl"]
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["VisibilityTimeout"])["Attributes"]
    assert attrs["VisibilityTimeout"] == "900"  # the queue as enqueue made it: untouched
