"""S3 events against the real SQS/S3 server: one object is one page, each record has its own
outcome, and the SNS and EventBridge shapes of the event are read as well as S3's own.

Where LocalStack can (SERVICES=sqs,s3), S3 itself sends the events: a bucket notification to the
test queue. SNS and EventBridge are not running there, so their bodies are the ones those
services deliver to SQS, built around the event S3 sent."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote

import boto3
import pytest

from comicocr.consumer import Consumer
from comicocr.engines import CATALOG
from comicocr.queues.base import Outgoing
from comicocr.queues.sqs import SQSQueue
from comicocr.settings import Settings

pytestmark = pytest.mark.integration


def settings(queue: str, output: Path, **kw: Any) -> Settings:
    return Settings(
        queue=queue, output=str(output), method="null", workers=2, batch_window_s=0.5, poll_wait_s=1, **kw
    )


async def consume(queue: SQSQueue, dispatcher: Any, s: Settings) -> Any:
    return await Consumer(queue, dispatcher, s, engines=CATALOG, until_idle=True).run()


def new_bucket() -> str:
    name = f"t-{uuid.uuid4().hex[:12]}"
    boto3.client("s3").create_bucket(Bucket=name)
    return name


async def notify(queue: SQSQueue, *buckets: str) -> None:
    """Point the buckets' ObjectCreated notifications at the queue, as an operator would."""
    sqs = boto3.client("sqs")
    arn = sqs.get_queue_attributes(QueueUrl=await queue.url(), AttributeNames=["QueueArn"])
    for b in buckets:
        boto3.client("s3").put_bucket_notification_configuration(
            Bucket=b,
            NotificationConfiguration={
                "QueueConfigurations": [
                    {"QueueArn": arn["Attributes"]["QueueArn"], "Events": ["s3:ObjectCreated:*"]}
                ]
            },
        )


async def wait_for(queue: SQSQueue, n: int) -> None:
    """Until S3's n notifications (test events included) are in the queue."""
    sqs = boto3.client("sqs")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        got = sqs.get_queue_attributes(
            QueueUrl=await queue.url(), AttributeNames=["ApproximateNumberOfMessages"]
        )
        if int(got["Attributes"]["ApproximateNumberOfMessages"]) >= n:
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"S3 did not send {n} notifications")


async def dead_letters(queue: SQSQueue) -> list[Any]:
    out: list[Any] = []
    for _ in range(5):
        got = await queue.dead_letters.receive(10, 1, 30)
        out += got
        if not got and out:
            break
    return out


def record(bucket: str, key: str) -> dict[str, Any]:
    """A record as S3 writes it: the key URL-encoded."""
    return {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "eventName": "ObjectCreated:Put",
        "s3": {
            "s3SchemaVersion": "1.0",
            "bucket": {"name": bucket},
            "object": {"key": quote(key), "size": 1},
        },
    }


def results(out: Path) -> dict[str, str]:
    """Result file (relative) -> the source image it records."""
    return {
        str(p.relative_to(out)): json.loads(p.read_text())["source_image_path"]
        for p in out.rglob("*_ocr.json")
    }


# -- item 5: one object is one page --------------------------------------------------------------


async def test_distinct_objects_never_share_a_result(
    queue_address: str, dispatcher: Any, sample_pages: Path, tmp_path: Path
) -> None:
    """s3://a/coll/p9.png, s3://a/coll/p9.jpg and s3://b/coll/p9.png were one id (coll/p9): one
    was read, two 'skipped'. Each is its own page now, with its own result."""
    a, b = new_bucket(), new_bucket()
    queue = SQSQueue(queue_address)
    await queue.ensure()
    await notify(queue, a, b)
    s3 = boto3.client("s3")
    s3.upload_file(str(sample_pages / "page_001.png"), a, "coll/p9.png")
    s3.upload_file(str(sample_pages / "page_002.png"), a, "coll/p9.jpg")
    s3.upload_file(str(sample_pages / "page_003.png"), b, "coll/p9.png")
    await wait_for(queue, 5)  # two test events, three created objects

    stats = await consume(queue, dispatcher, settings(queue_address, tmp_path / "out"))

    assert (stats.outcomes["done"], stats.outcomes["skipped"], stats.dead) == (3, 0, []), stats
    assert results(tmp_path / "out") == {
        f"{a}/coll/p9.png_ocr.json": f"s3://{a}/coll/p9.png",
        f"{a}/coll/p9.jpg_ocr.json": f"s3://{a}/coll/p9.jpg",
        f"{b}/coll/p9.png_ocr.json": f"s3://{b}/coll/p9.png",
    }
    await queue.close()


async def test_without_the_bucket_a_key_in_two_buckets_is_a_reported_collision(
    queue_address: str, dispatcher: Any, sample_pages: Path, tmp_path: Path
) -> None:
    a, b = new_bucket(), new_bucket()
    queue = SQSQueue(queue_address)
    await queue.ensure()
    s3 = boto3.client("s3")
    s3.upload_file(str(sample_pages / "page_003.png"), a, "coll/p8.png")  # before S3 notifies
    s3.upload_file(str(sample_pages / "page_001.png"), b, "coll/p8.png")
    await notify(queue, a)
    s3.upload_file(str(sample_pages / "page_001.png"), a, "coll/p9.png")
    s3.upload_file(str(sample_pages / "page_002.png"), b, "coll/p9.png")
    await wait_for(queue, 2)
    s = settings(queue_address, tmp_path / "out", event_ids_without_bucket=True)
    stats = await consume(queue, dispatcher, s)
    assert results(tmp_path / "out") == {"coll/p9.png_ocr.json": f"s3://{a}/coll/p9.png"}

    # The same key created in the other bucket (its own event, later): not skipped, reported.
    await queue.send_batch([Outgoing(json.dumps({"Records": [record(b, "coll/p9.png")]}))])
    # And one event naming both objects: the first keeps the id, the second is reported.
    both = [record(b, "coll/p8.png"), record(a, "coll/p8.png")]
    await queue.send_batch([Outgoing(json.dumps({"Records": both}))])
    stats = await consume(queue, dispatcher, s)

    assert stats.outcomes["skipped"] == 0, stats
    assert stats.outcomes["done"] == 1, stats
    assert sorted((ident, cls) for ident, cls, _ in stats.dead) == [
        ("coll/p8.png", "permanent"),
        ("coll/p9.png", "permanent"),
    ]
    assert results(tmp_path / "out") == {
        "coll/p9.png_ocr.json": f"s3://{a}/coll/p9.png",
        "coll/p8.png_ocr.json": f"s3://{b}/coll/p8.png",
    }
    dead = {json.loads(d.body)["Records"][0]["s3"]["bucket"]["name"]: d for d in await dead_letters(queue)}
    for bucket, other in ((b, a), (a, b)):
        reason = dead[bucket].attributes["comicocr-error"]
        assert "id collision" in reason
        assert f"s3://{bucket}/coll/" in reason
        assert f"s3://{other}/coll/" in reason
        assert dead[bucket].attributes["comicocr-error-class"] == "permanent"
    await queue.close()


async def test_a_refused_bucket_is_refused_not_skipped(
    queue_address: str, dispatcher: Any, sample_pages: Path, tmp_path: Path
) -> None:
    """The allowed-roots check comes before skip-if-done: an object of a bucket the operator did
    not allow is dead-lettered as refused, even when a result with its id exists."""
    a, b = new_bucket(), new_bucket()
    s3 = boto3.client("s3")
    s3.upload_file(str(sample_pages / "page_001.png"), a, "coll/p9.png")
    s3.upload_file(str(sample_pages / "page_002.png"), b, "coll/p9.png")
    queue = SQSQueue(queue_address)
    await queue.ensure()
    s = settings(queue_address, tmp_path / "out", event_ids_without_bucket=True, allowed_roots=[f"s3://{a}"])
    await queue.send_batch([Outgoing(json.dumps({"Records": [record(a, "coll/p9.png")]}))])
    assert (await consume(queue, dispatcher, s)).outcomes["done"] == 1
    await queue.send_batch([Outgoing(json.dumps({"Records": [record(b, "coll/p9.png")]}))])
    stats = await consume(queue, dispatcher, s)
    assert stats.outcomes["skipped"] == 0, stats
    [(ident, cls, reason)] = stats.dead
    assert (ident, cls) == ("coll/p9.png", "permanent")
    assert f"outside the allowed roots: s3://{b}/coll/p9.png" in reason
    await queue.close()


# -- item 6: each record is its own page -----------------------------------------------------------


async def test_a_bad_record_is_dead_lettered_alone_and_the_good_page_is_read(
    queue_address: str, dispatcher: Any, sample_pages: Path, tmp_path: Path
) -> None:
    bucket = new_bucket()
    boto3.client("s3").upload_file(str(sample_pages / "page_001.png"), bucket, "in/p1.png")
    queue = SQSQueue(queue_address)
    await queue.ensure()
    event = {"Records": [record(bucket, "in/p1.png"), record(bucket, "in/../../etc/p2.png")]}
    await queue.send_batch([Outgoing(json.dumps(event))])

    stats = await consume(queue, dispatcher, settings(queue_address, tmp_path / "out"))

    assert stats.outcomes["done"] == 1, stats
    assert results(tmp_path / "out") == {f"{bucket}/in/p1.png_ocr.json": f"s3://{bucket}/in/p1.png"}
    [dead] = await dead_letters(queue)
    assert json.loads(dead.body) == {"Records": [record(bucket, "in/../../etc/p2.png")]}  # that record alone
    assert dead.attributes["comicocr-error-class"] == "poison"
    assert "S3 key 'in/../../etc/p2.png' is not a safe canonical_id" in dead.attributes["comicocr-error"]
    assert (await queue.depths()).pending == 0
    await queue.close()


# -- item 7: SNS and EventBridge ------------------------------------------------------------------


async def test_s3_events_through_sns_and_eventbridge(
    queue_address: str, dispatcher: Any, sample_pages: Path, tmp_path: Path
) -> None:
    bucket = new_bucket()
    s3 = boto3.client("s3")
    queue = SQSQueue(queue_address)
    await queue.ensure()
    # What S3 sends for an upload, captured from a real notification to a side queue.
    side = SQSQueue(f"sqs://t-{uuid.uuid4().hex[:12]}")
    await side.ensure()
    await notify(side, bucket)
    s3.upload_file(str(sample_pages / "page_001.png"), bucket, "sns/Vol 1/p 1.png")
    await wait_for(side, 2)
    bodies = [m.body for m in await side.receive(10, 1, 30)]
    await side.close()
    s3_event = next(b for b in bodies if "Records" in b)
    sns = {  # SNS -> SQS without raw message delivery
        "Type": "Notification",
        "MessageId": str(uuid.uuid4()),
        "TopicArn": "arn:aws:sns:us-east-1:000000000000:uploads",
        "Subject": "Amazon S3 Notification",
        "Message": s3_event,
        "Timestamp": "2026-11-28T17:00:00.000Z",
        "SignatureVersion": "1",
        "Signature": "EXAMPLE",
        "SigningCertURL": "https://sns.us-east-1.amazonaws.com/x.pem",
        "UnsubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe",
    }
    s3.upload_file(str(sample_pages / "page_002.png"), bucket, "eb/Vol 1/p 2.png")
    eventbridge = {  # an EventBridge rule on "Object Created" with this queue as its target
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Object Created",
        "source": "aws.s3",
        "account": "000000000000",
        "time": "2026-11-28T17:00:00Z",
        "region": "us-east-1",
        "resources": [f"arn:aws:s3:::{bucket}"],
        "detail": {
            "version": "0",
            "bucket": {"name": bucket},
            "object": {"key": quote("eb/Vol 1/p 2.png"), "size": 1, "etag": "0", "sequencer": "0"},
            "request-id": "N4N7GDK58NMKJ12R",
            "requester": "000000000000",
            "source-ip-address": "127.0.0.1",
            "reason": "PutObject",
        },
    }
    deleted = {**eventbridge, "id": str(uuid.uuid4()), "detail-type": "Object Deleted"}
    test_event = {**sns, "MessageId": str(uuid.uuid4()), "Message": json.dumps({"Event": "s3:TestEvent"})}
    await queue.send_batch([Outgoing(json.dumps(b)) for b in (sns, eventbridge, deleted, test_event)])

    stats = await consume(queue, dispatcher, settings(queue_address, tmp_path / "out"))

    assert (stats.outcomes["done"], stats.dead) == (2, []), stats
    assert results(tmp_path / "out") == {
        f"{bucket}/sns/Vol 1/p 1.png_ocr.json": f"s3://{bucket}/sns/Vol 1/p 1.png",
        f"{bucket}/eb/Vol 1/p 2.png_ocr.json": f"s3://{bucket}/eb/Vol 1/p 2.png",
    }
    assert (await queue.depths()).pending == 0
    await queue.close()
