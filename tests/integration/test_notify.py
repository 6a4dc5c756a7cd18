"""`comicocr notify` against LocalStack's S3 and SQS: the queue policy and the bucket
notification it sets (merged, idempotent), then S3 itself sending uploads to a real consumer:
one result per image under the prefix, nothing for the rest, and no loop when the results are
written under the watched prefix."""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest
from structlog.testing import capture_logs

from comicocr.consumer import Consumer
from comicocr.engines import CATALOG
from comicocr.queues.base import Outgoing
from comicocr.queues.sqs import SQSQueue
from comicocr.settings import Settings

from .conftest import ENDPOINT, ROOT, comicocr

pytestmark = pytest.mark.integration
REAL = ROOT / "tests" / "data" / "real"
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp", ".gif"}


def queue_attributes(url: str) -> dict[str, str]:
    got = boto3.client("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["All"])
    return dict(got["Attributes"])


def notification(bucket: str) -> dict[str, Any]:
    got = boto3.client("s3").get_bucket_notification_configuration(Bucket=bucket)
    got.pop("ResponseMetadata")
    return dict(got)


def rules(config: dict[str, Any]) -> dict[str, str]:
    return {r["Name"].lower(): r["Value"] for r in config["Filter"]["Key"]["FilterRules"]}


async def pending(queue: SQSQueue) -> int:
    return (await queue.depths()).pending


async def wait_for(queue: SQSQueue, n: int) -> None:
    deadline = time.monotonic() + 20
    while await pending(queue) < n:
        assert time.monotonic() < deadline, f"S3 did not send {n} notifications"
        await asyncio.sleep(0.2)


async def consume(queue: SQSQueue, dispatcher: Any, settings: Settings) -> Any:
    return await Consumer(queue, dispatcher, settings, engines=CATALOG, until_idle=True).run()


def test_notify_sets_the_policy_and_notification_once_keeping_the_others(
    queue_address: str, bucket: str, tmp_path: Path
) -> None:
    sqs, s3 = boto3.client("sqs"), boto3.client("s3")
    name = queue_address.removeprefix("sqs://")
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = queue_attributes(url)["QueueArn"]
    other_arn = queue_attributes(sqs.create_queue(QueueName=f"{name}-thumbs")["QueueUrl"])["QueueArn"]
    # What the operator had before: a statement of their own, and a notification to another queue.
    theirs = {
        "Sid": "TheirSender",
        "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::111111111111:root"},
        "Action": "sqs:SendMessage",
        "Resource": arn,
    }
    policy = {"Version": "2012-10-17", "Statement": [theirs]}
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(policy)})
    thumbs = {
        "Id": "thumbnails",
        "QueueArn": other_arn,
        "Events": ["s3:ObjectCreated:*"],
        "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "thumbs/"}]}},
    }
    s3.put_bucket_notification_configuration(
        Bucket=bucket, NotificationConfiguration={"QueueConfigurations": [thumbs]}
    )

    first = comicocr("notify", "--bucket", bucket, "--prefix", "in/", "--queue", queue_address, cwd=tmp_path)

    assert first.returncode == 0, first.stderr
    assert "added a statement letting S3 send events of" in first.stdout
    assert "16 configurations added" in first.stdout
    assert "1 other configurations kept" in first.stdout
    statements = json.loads(queue_attributes(url)["Policy"])["Statement"]
    assert statements[0] == theirs
    [ours] = statements[1:]
    assert ours["Effect"] == "Allow"
    assert ours["Principal"] == {"Service": "s3.amazonaws.com"}
    assert ours["Action"] == "sqs:SendMessage"
    assert ours["Resource"] == arn
    assert ours["Condition"]["ArnEquals"] == {"aws:SourceArn": f"arn:aws:s3:::{bucket}"}
    configs = notification(bucket)["QueueConfigurations"]
    kept = [c for c in configs if c["Id"] == "thumbnails"]
    assert len(kept) == 1
    assert kept[0]["QueueArn"] == other_arn
    assert rules(kept[0]) == {"prefix": "thumbs/"}
    mine = [c for c in configs if c["QueueArn"] == arn]
    assert len(configs) == 1 + len(mine)
    assert all(c["Events"] == ["s3:ObjectCreated:*"] and rules(c)["prefix"] == "in/" for c in mine)
    suffixes = sorted(rules(c)["suffix"] for c in mine)
    assert suffixes == sorted([*IMAGE_SUFFIXES, *(s.upper() for s in IMAGE_SUFFIXES)])
    policy_after, notification_after = queue_attributes(url)["Policy"], notification(bucket)

    # Again, naming the queue by its URL this time: nothing is added, nothing is lost.
    by_url = f"{ENDPOINT}/000000000000/{name}"
    again = comicocr("notify", "--bucket", bucket, "--prefix", "in/", "--queue", by_url, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert again.stdout.count("(unchanged") == 2, again.stdout
    assert json.loads(queue_attributes(url)["Policy"]) == json.loads(policy_after)
    assert notification(bucket) == notification_after

    # A narrower run is already covered; --dry-run says so and writes nothing.
    dry = comicocr(
        "notify", "--bucket", bucket, "--prefix", "in/vol1/", "--suffix", ".png", "--queue", queue_address,
        "--dry-run", cwd=tmp_path,
    )  # fmt: skip
    assert dry.returncode == 0, dry.stderr
    shown = json.loads(dry.stdout)
    assert (shown["policy_changed"], shown["notification_changed"]) == (False, False)
    assert notification(bucket) == notification_after


async def test_uploads_under_the_prefix_become_one_page_each_and_results_do_not_loop(
    queue_address: str, bucket: str, dispatcher: Any, sample_pages: Path, tmp_path: Path
) -> None:
    queue = SQSQueue(queue_address)
    await queue.ensure()
    done = comicocr("notify", "--bucket", bucket, "--prefix", "in/", "--queue", queue_address, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    # The results go under the watched prefix, where S3 would tell the queue about them if it could.
    output = f"s3://{bucket}/in/results"
    settings = Settings(
        queue=queue_address,
        output=output,
        method="null",
        workers=2,
        batch_window_s=0.5,
        poll_wait_s=1,
        allowed_roots=[f"s3://{bucket}/in"],
    )
    # S3's s3:TestEvent messages: deleted with nothing to do.
    await wait_for(queue, 1)
    stats = await consume(queue, dispatcher, settings)
    assert (stats.outcomes["done"], stats.dead, stats.outcomes["empty"] >= 1) == (0, [], True), stats

    s3 = boto3.client("s3")
    # Objects that must not make a page go first: once the pages' events are in, theirs would be.
    (tmp_path / "notes.txt").write_text("not a page")
    s3.upload_file(str(tmp_path / "notes.txt"), bucket, "in/vol1/notes.txt")
    s3.upload_file(str(tmp_path / "notes.txt"), bucket, "in/vol1/meta.json")
    s3.upload_file(str(sample_pages / "page_001.png"), bucket, "elsewhere/p9.png")
    s3.upload_file(str(REAL / "en_ep03_p02.jpg"), bucket, "in/vol1/p1.jpg")
    s3.upload_file(str(REAL / "fr_ep03_p01.jpg"), bucket, "in/vol1/P2.JPG")
    s3.upload_file(str(sample_pages / "page_002.png"), bucket, "in/vol1/p 3.png")
    s3.upload_file(str(REAL / "en_ep03_p02.jpg"), bucket, "in/vol1/p1.jpg")  # the same image again
    await wait_for(queue, 4)
    await asyncio.sleep(0.5)
    assert await pending(queue) == 4  # no event for the text, the JSON, or the image elsewhere

    stats = await consume(queue, dispatcher, settings)

    assert stats.dead == [], stats
    assert stats.outcomes["done"] >= 3, stats
    assert stats.outcomes["done"] + stats.outcomes["skipped"] == 4, stats  # the repeat: harmless
    listed = s3.list_objects_v2(Bucket=bucket, Prefix="in/results/")
    results = sorted(o["Key"].removeprefix("in/results/") for o in listed.get("Contents", []))
    assert results == [
        f"{bucket}/in/vol1/P2.JPG_ocr.json",
        f"{bucket}/in/vol1/p 3.png_ocr.json",
        f"{bucket}/in/vol1/p1.jpg_ocr.json",
    ]
    body = s3.get_object(Bucket=bucket, Key=f"in/results/{bucket}/in/vol1/P2.JPG_ocr.json")["Body"].read()
    assert json.loads(body)["source_image_path"] == f"s3://{bucket}/in/vol1/P2.JPG"
    # Three results written under the watched prefix: no event came back for them.
    await asyncio.sleep(1)
    assert await pending(queue) == 0

    # What a notification without the suffix filter (or SNS, EventBridge) would bring: a text
    # file and one of the consumer's own results. Deleted with nothing to do, and said why.
    def event(key: str) -> Outgoing:
        record = {
            "eventName": "ObjectCreated:Put",
            "s3": {"bucket": {"name": bucket}, "object": {"key": key}},
        }
        return Outgoing(json.dumps({"Records": [record]}))

    result_key = f"in/results/{bucket}/in/vol1/p1.jpg_ocr.json"
    await queue.send_batch([event("in/vol1/notes.txt"), event(result_key)])
    with capture_logs() as logs:
        stats = await consume(queue, dispatcher, settings)
    assert (stats.outcomes["empty"], stats.outcomes["done"], stats.dead) == (2, 0, []), stats
    ignored = sorted(o for line in logs if line["event"] == "event.ignored" for o in line["objects"])
    assert ignored == [f"s3://{bucket}/{result_key}", f"s3://{bucket}/in/vol1/notes.txt"]
    assert await pending(queue) == 0
    await queue.close()


def test_notify_errors_are_one_line_with_the_fix(queue_address: str, bucket: str, tmp_path: Path) -> None:
    """The errors an operator meets first; those found before any request (a FIFO queue, a
    suffix the consumer does not read) and the rest of the mapping are in tests/unit/test_notify.py."""
    boto3.client("sqs").create_queue(QueueName=queue_address.removeprefix("sqs://"))
    missing_queue = f"{ENDPOINT}/000000000000/t-{uuid.uuid4().hex[:12]}"
    missing_bucket = f"t-{uuid.uuid4().hex[:12]}"
    no_keys = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") or "KEY" not in k}
    no_keys |= {
        "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
        "AWS_CONFIG_FILE": "/nonexistent",
        "AWS_EC2_METADATA_DISABLED": "true",  # not an EC2 machine: do not wait for its metadata
    }
    cases: list[tuple[tuple[str, ...], dict[str, str] | None, str]] = [
        (("--queue", "sqlite:///q.sqlite3"), None, "cannot receive S3 events (only SQS can)"),
        (("--queue", missing_queue), None, "does not exist: check --queue"),
        (("--queue", queue_address, "--bucket", missing_bucket), None, "does not exist: create it first"),
        (("--queue", queue_address), no_keys, "no AWS credentials: set AWS_ACCESS_KEY_ID"),
    ]
    for args, env, words in cases:
        got = comicocr("notify", "--bucket", bucket, *args, cwd=tmp_path, env=env)
        assert got.returncode == 2, (args, got.stdout, got.stderr)
        assert got.stderr.count("\n") == 1, got.stderr  # one line, no traceback
        assert got.stderr.startswith("error: "), got.stderr
        assert words in got.stderr, got.stderr
    assert not (tmp_path / "q.sqlite3").exists()
    assert notification(bucket).get("QueueConfigurations", []) == []  # nothing was set on the way
