"""SQS (or any SQS-compatible server) through aiobotocore.

The endpoint, region and credentials come from the standard AWS variables
(``AWS_ENDPOINT_URL_SQS``/``AWS_ENDPOINT_URL``, ``AWS_REGION``, ...), so a
LocalStack or moto server needs no special hooks. The dead-letter queue defaults
to ``<name>-dlq``; ``ensure()`` creates both with a RedrivePolicy whose high
``maxReceiveCount`` is only a safety net (the pipeline counts failed attempts itself).
A queue and its dead-letter queue share one client.
"""

from __future__ import annotations

import asyncio
import json
import os
from contextlib import AsyncExitStack
from typing import Any

from aiobotocore.config import AioConfig
from aiobotocore.session import get_session

from comicocr.errors import ConfigError
from comicocr.queues.base import MAX_BATCH, Depths, Message, Outgoing

SAFETY_NET_RECEIVES = 50
_COUNTS = (
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
)


def _region() -> str:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"


def queue_name(address: str) -> str:
    """``https://host/123/name`` or ``sqs://name`` -> ``name``."""
    return address.rstrip("/").rsplit("/", 1)[-1]


def _url_of(address: str | None) -> str | None:
    """A full queue URL is used as it is; ``sqs://name`` is looked up (None here)."""
    return address if address and "://" in address and not address.startswith("sqs://") else None


class _Client:
    """One aiobotocore SQS client, opened on first use, shared by a queue and its DLQ."""

    def __init__(self) -> None:
        self._stack: AsyncExitStack | None = None
        self._client: Any = None

    async def get(self) -> Any:
        if self._client is None:
            self._stack = AsyncExitStack()
            config = AioConfig(
                retries={"max_attempts": 3, "mode": "adaptive"},
                connect_timeout=5,
                read_timeout=30,  # longer than the 20 s long poll
                max_pool_connections=20,
            )
            self._client = await self._stack.enter_async_context(
                get_session().create_client("sqs", region_name=_region(), config=config)
            )
        return self._client

    async def close(self) -> None:
        if self._stack is not None:
            await self._stack.aclose()
            self._stack = None
            self._client = None


class SQSQueue:
    def __init__(
        self,
        address: str,
        dlq_address: str | None = None,
        visibility_s: int = 300,
        *,
        _client: _Client | None = None,
    ) -> None:
        self.address = address
        self.name = queue_name(address)
        self.visibility_s = visibility_s
        self._url = _url_of(address)
        self._client = _client or _Client()
        self._dead: SQSQueue | None = None
        if _client is None:  # a main queue; a dead-letter queue is made by its main queue
            dlq = dlq_address or f"sqs://{self.name}-dlq"
            self._dead = SQSQueue(dlq, visibility_s=visibility_s, _client=self._client)

    @property
    def dead_letters(self) -> SQSQueue:
        if self._dead is None:
            raise ConfigError(f"{self.address} is a dead-letter queue: it has no dead-letter queue")
        return self._dead

    async def url(self) -> str:
        if self._url is None:
            sqs = await self._client.get()
            self._url = str((await sqs.get_queue_url(QueueName=self.name))["QueueUrl"])
        return self._url

    async def _arn(self) -> str:
        sqs = await self._client.get()
        attrs = await sqs.get_queue_attributes(QueueUrl=await self.url(), AttributeNames=["QueueArn"])
        return str(attrs["Attributes"]["QueueArn"])

    async def ensure(self) -> None:
        sqs = await self._client.get()
        dead = self.dead_letters
        created = await sqs.create_queue(
            QueueName=dead.name, Attributes={"MessageRetentionPeriod": "1209600"}
        )
        dead._url = created["QueueUrl"]
        redrive = {"deadLetterTargetArn": await dead._arn(), "maxReceiveCount": str(SAFETY_NET_RECEIVES)}
        main = await sqs.create_queue(
            QueueName=self.name,
            Attributes={"VisibilityTimeout": str(self.visibility_s), "RedrivePolicy": json.dumps(redrive)},
        )
        self._url = main["QueueUrl"]

    @staticmethod
    def _entries(entries: list[Outgoing]) -> list[dict[str, Any]]:
        out = []
        for i, e in enumerate(entries):
            entry: dict[str, Any] = {"Id": str(i), "MessageBody": e.body}
            if e.delay_s:
                entry["DelaySeconds"] = e.delay_s
            if e.attributes:
                entry["MessageAttributes"] = {
                    k: {"DataType": "String", "StringValue": v} for k, v in e.attributes.items()
                }
            out.append(entry)
        return out

    @staticmethod
    def _failed(response: dict[str, Any]) -> list[int]:
        return sorted(int(f["Id"]) for f in response.get("Failed", []))

    async def send_batch(self, entries: list[Outgoing]) -> list[int]:
        assert len(entries) <= MAX_BATCH
        if not entries:
            return []
        sqs = await self._client.get()
        resp = await sqs.send_message_batch(QueueUrl=await self.url(), Entries=self._entries(entries))
        return self._failed(resp)

    async def receive(self, max_messages: int, wait_s: float, visibility_s: int) -> list[Message]:
        sqs = await self._client.get()
        resp = await sqs.receive_message(
            QueueUrl=await self.url(),
            MaxNumberOfMessages=min(max_messages, MAX_BATCH),
            WaitTimeSeconds=int(min(20, max(0, wait_s))),
            VisibilityTimeout=visibility_s,
            MessageSystemAttributeNames=["ApproximateReceiveCount"],
            MessageAttributeNames=["All"],
        )
        return [
            Message(
                id=m["MessageId"],
                receipt=m["ReceiptHandle"],
                body=m["Body"],
                receive_count=int(m.get("Attributes", {}).get("ApproximateReceiveCount", 1)),
                attributes={k: v.get("StringValue", "") for k, v in m.get("MessageAttributes", {}).items()},
            )
            for m in resp.get("Messages", [])
        ]

    async def delete_batch(self, receipts: list[str]) -> list[int]:
        if not receipts:
            return []
        entries = [{"Id": str(i), "ReceiptHandle": r} for i, r in enumerate(receipts)]
        sqs = await self._client.get()
        return self._failed(await sqs.delete_message_batch(QueueUrl=await self.url(), Entries=entries))

    async def change_visibility_batch(self, items: list[tuple[str, int]]) -> list[int]:
        if not items:
            return []
        entries = [
            {"Id": str(i), "ReceiptHandle": r, "VisibilityTimeout": s} for i, (r, s) in enumerate(items)
        ]
        sqs = await self._client.get()
        resp = await sqs.change_message_visibility_batch(QueueUrl=await self.url(), Entries=entries)
        return self._failed(resp)

    async def move_dead_letters_back(self) -> int:
        """Move every dead letter back with SQS's own StartMessageMoveTask; return how many.

        Raises when the server lacks the API (moto answers HTTP 500).
        """
        source, destination = await self.dead_letters._arn(), await self._arn()
        sqs = await self._client.get()
        await sqs.start_message_move_task(SourceArn=source, DestinationArn=destination)
        while True:
            tasks = (await sqs.list_message_move_tasks(SourceArn=source, MaxResults=1)).get("Results", [])
            if tasks and tasks[0].get("Status") in ("COMPLETED", "FAILED", "CANCELLED"):
                if tasks[0]["Status"] != "COMPLETED":
                    raise RuntimeError(
                        f"message move task {tasks[0]['Status']}: {tasks[0].get('FailureReason', '')}"
                    )
                return int(tasks[0].get("ApproximateNumberOfMessagesMoved", 0))
            await asyncio.sleep(0.5)

    async def _counts(self) -> Depths:
        sqs = await self._client.get()
        attrs = (await sqs.get_queue_attributes(QueueUrl=await self.url(), AttributeNames=list(_COUNTS)))[
            "Attributes"
        ]
        return Depths(*(int(attrs.get(name, 0)) for name in _COUNTS))

    async def depths(self) -> Depths:
        own = await self._counts()
        if self._dead is None:
            return own
        dead = await self._dead._counts()
        return Depths(own.visible, own.in_flight, own.delayed, dead=dead.pending)

    async def close(self) -> None:
        if self._dead is not None:  # the main queue owns the shared client
            await self._client.close()
