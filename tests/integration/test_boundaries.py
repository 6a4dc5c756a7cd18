"""Queue addresses against the real server: a URL is used as given (its host is the endpoint,
nothing is created for it), a queue someone else made can be consumed, and a message may not
choose where results are written."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import boto3
import pytest

from comicocr.consumer import Consumer
from comicocr.contract import Chunk, Outcome
from comicocr.engines import CATALOG
from comicocr.errors import ConfigError
from comicocr.queues.base import Outgoing
from comicocr.queues.sqs import SQSQueue
from comicocr.settings import Settings
from comicocr.worker import run_chunk

pytestmark = pytest.mark.integration


def external_queue(endpoint: str, redrive: bool = True) -> tuple[str, str]:
    """A queue made the way the console or Terraform makes one: default attributes, its own DLQ."""
    sqs = boto3.client("sqs", endpoint_url=endpoint)
    name = f"ext-{uuid.uuid4().hex[:10]}"
    dlq = sqs.create_queue(QueueName=f"{name}-graveyard")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    attributes = {"RedrivePolicy": json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": "50"})}
    sqs.create_queue(QueueName=name, Attributes=attributes if redrive else {})
    return name, f"{name}-graveyard"


class InProcess:
    """The worker's own code, run here: the queue is under test, not Lithops. (The session's
    Lithops executor is left alone: a second live localhost executor races the chaos tests'
    consumers on Lithops' shared temp folder, issue 12.)"""

    def run_chunks(self, chunks: list[Chunk]) -> list[list[Outcome]]:
        return [run_chunk(c) for c in chunks]


async def test_a_queue_url_is_used_as_given(
    sqs_server: str, sample_pages: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name, dlq_name = external_queue(sqs_server)
    # The standard variable now points nowhere: only the URL's own host can reach the queue.
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    url = f"{sqs_server}/000000000000/{name}"
    queue = SQSQueue(url)
    await queue.ensure()  # checks; creates nothing
    image = str(sample_pages / "page_001.png")
    bodies = [
        {"canonical_id": "ok", "image_path": image},
        {"canonical_id": "gone", "image_path": str(tmp_path / "gone.png")},
        {"canonical_id": "elsewhere", "image_path": image, "output": str(tmp_path / "not-out")},
    ]
    assert (await queue.send_batch([Outgoing(json.dumps(b)) for b in bodies])).failed == []
    s = Settings(
        queue=url, output=str(tmp_path / "out"), method="null", workers=2, batch_window_s=0.3, poll_wait_s=1
    )
    stats = await Consumer(queue, InProcess(), s, engines=CATALOG, until_idle=True).run()
    assert stats.outcomes["done"] == 1
    assert sorted((i, c) for i, c, _ in stats.dead) == [("elsewhere", "poison"), ("gone", "permanent")]
    assert "outside the consumer's output" in {i: r for i, _, r in stats.dead}["elsewhere"]
    assert not (tmp_path / "not-out").exists()
    # The dead letters went to the DLQ the queue's RedrivePolicy names, not to a new <name>-dlq.
    assert (await queue.dead_letters.url()).endswith(f"/{dlq_name}")
    assert (await queue.depths()).dead == 2
    sqs = boto3.client("sqs", endpoint_url=sqs_server)
    assert not [u for u in sqs.list_queues(QueueNamePrefix=name).get("QueueUrls", []) if u.endswith("-dlq")]
    await queue.close()


async def test_a_url_of_no_queue_is_a_clear_error_and_creates_nothing(sqs_server: str) -> None:
    name = f"never-{uuid.uuid4().hex[:10]}"
    queue = SQSQueue(f"{sqs_server}/000000000000/{name}")
    with pytest.raises(ConfigError, match="does not exist"):
        await queue.ensure()
    await queue.close()
    assert not boto3.client("sqs", endpoint_url=sqs_server).list_queues(QueueNamePrefix=name).get("QueueUrls")


async def test_a_queue_without_redrive_policy_needs_its_dlq_named(sqs_server: str) -> None:
    name, dlq_name = external_queue(sqs_server, redrive=False)
    url = f"{sqs_server}/000000000000/{name}"
    bare = SQSQueue(url)
    with pytest.raises(ConfigError, match="no RedrivePolicy"):
        await bare.ensure()
    await bare.close()
    named = SQSQueue(url, dlq_address=f"sqs://{dlq_name}")
    await named.ensure()
    assert (await named.dead_letters.url()).endswith(f"/{dlq_name}")
    await named.close()


async def test_sqs_name_of_an_existing_queue_with_other_attributes_is_used_as_is(sqs_server: str) -> None:
    name = f"made-{uuid.uuid4().hex[:10]}"
    sqs = boto3.client("sqs", endpoint_url=sqs_server)
    sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "30"})
    queue = SQSQueue(f"sqs://{name}", visibility_s=900)
    await queue.ensure()  # no "QueueAlreadyExists ... different value" failure
    await queue.send_batch([Outgoing("x")])
    assert (await queue.depths()).visible == 1
    await queue.close()
