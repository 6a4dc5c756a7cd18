"""SQS (or any SQS-compatible server) through aiobotocore.

The endpoint, region and credentials come from the standard AWS variables
(``AWS_ENDPOINT_URL_SQS``/``AWS_ENDPOINT_URL``, ``AWS_REGION``, ...), so a
LocalStack or moto server needs no special hooks. The dead-letter queue defaults
to ``<name>-dlq``; ``ensure()`` creates both with a RedrivePolicy whose high
``maxReceiveCount`` is only a safety net (the pipeline counts failed attempts itself).
"""

from __future__ import annotations

import asyncio
import json
import os
from contextlib import AsyncExitStack
from typing import Any

from aiobotocore.config import AioConfig
from aiobotocore.session import get_session

from comicocr.queues.base import MAX_BATCH, Depths, Message, Outgoing

SAFETY_NET_RECEIVES = 50


def _region() -> str:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"


def queue_name(address: str) -> str:
    """``https://host/123/name`` or ``sqs://name`` -> ``name``."""
    return address.rstrip("/").rsplit("/", 1)[-1]


class SQSQueue:
    def __init__(self, address: str, dlq_address: str | None = None, visibility_s: int = 300) -> None:
        self.address = address
        self.name = queue_name(address)
        self.dlq_name = queue_name(dlq_address) if dlq_address else f"{self.name}-dlq"
        self.visibility_s = visibility_s
        self._url: str | None = None if address.startswith("sqs://") else address
        self._dlq_url: str | None = (
            dlq_address
            if dlq_address and "://" in dlq_address and not dlq_address.startswith("sqs://")
            else None
        )
        self._stack: AsyncExitStack | None = None
        self._client: Any = None

    async def _sqs(self) -> Any:
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

    async def _resolve(self) -> tuple[str, str]:
        if self._url is None or self._dlq_url is None:
            sqs = await self._sqs()
            if self._url is None:
                self._url = (await sqs.get_queue_url(QueueName=self.name))["QueueUrl"]
            if self._dlq_url is None:
                self._dlq_url = (await sqs.get_queue_url(QueueName=self.dlq_name))["QueueUrl"]
        return self._url, self._dlq_url

    async def ensure(self) -> None:
        sqs = await self._sqs()
        dlq = await sqs.create_queue(
            QueueName=self.dlq_name, Attributes={"MessageRetentionPeriod": "1209600"}
        )
        self._dlq_url = dlq["QueueUrl"]
        attrs = await sqs.get_queue_attributes(QueueUrl=self._dlq_url, AttributeNames=["QueueArn"])
        redrive = {
            "deadLetterTargetArn": attrs["Attributes"]["QueueArn"],
            "maxReceiveCount": str(SAFETY_NET_RECEIVES),
        }
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

    async def _send(self, url: str, entries: list[Outgoing]) -> list[int]:
        assert len(entries) <= MAX_BATCH
        if not entries:
            return []
        resp = await (await self._sqs()).send_message_batch(QueueUrl=url, Entries=self._entries(entries))
        return self._failed(resp)

    async def send_batch(self, entries: list[Outgoing]) -> list[int]:
        url, _ = await self._resolve()
        return await self._send(url, entries)

    async def send_dead_letter(self, entries: list[Outgoing]) -> list[int]:
        _, dlq = await self._resolve()
        return await self._send(dlq, entries)

    async def _receive(self, url: str, max_messages: int, wait_s: float, visibility_s: int) -> list[Message]:
        resp = await (await self._sqs()).receive_message(
            QueueUrl=url,
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

    async def receive(self, max_messages: int, wait_s: float, visibility_s: int) -> list[Message]:
        url, _ = await self._resolve()
        return await self._receive(url, max_messages, wait_s, visibility_s)

    async def receive_dead_letters(self, max_messages: int, visibility_s: int) -> list[Message]:
        _, dlq = await self._resolve()
        return await self._receive(dlq, max_messages, 0, visibility_s)

    async def _delete(self, url: str, receipts: list[str]) -> list[int]:
        if not receipts:
            return []
        entries = [{"Id": str(i), "ReceiptHandle": r} for i, r in enumerate(receipts)]
        resp = await (await self._sqs()).delete_message_batch(QueueUrl=url, Entries=entries)
        return self._failed(resp)

    async def delete_batch(self, receipts: list[str]) -> list[int]:
        url, _ = await self._resolve()
        return await self._delete(url, receipts)

    async def delete_dead_letters(self, receipts: list[str]) -> list[int]:
        _, dlq = await self._resolve()
        return await self._delete(dlq, receipts)

    async def release_dead_letters(self, receipts: list[str]) -> list[int]:
        _, dlq = await self._resolve()
        return await self._change_visibility(dlq, [(r, 0) for r in receipts])

    async def change_visibility_batch(self, items: list[tuple[str, int]]) -> list[int]:
        url, _ = await self._resolve()
        return await self._change_visibility(url, items)

    async def _change_visibility(self, url: str, items: list[tuple[str, int]]) -> list[int]:
        if not items:
            return []
        entries = [
            {"Id": str(i), "ReceiptHandle": r, "VisibilityTimeout": s} for i, (r, s) in enumerate(items)
        ]
        resp = await (await self._sqs()).change_message_visibility_batch(QueueUrl=url, Entries=entries)
        return self._failed(resp)

    async def move_dead_letters(self, max_per_second: int | None = None) -> int:
        """Move every dead letter back with SQS's own StartMessageMoveTask; return how many.

        Raises when the server lacks the API (moto answers HTTP 500): callers fall back
        to receive -> send -> delete.
        """
        url, dlq = await self._resolve()
        sqs = await self._sqs()
        arns = []
        for queue_url in (dlq, url):
            attrs = await sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
            arns.append(attrs["Attributes"]["QueueArn"])
        args: dict[str, Any] = {"SourceArn": arns[0], "DestinationArn": arns[1]}
        if max_per_second:
            args["MaxNumberOfMessagesPerSecond"] = max_per_second
        await sqs.start_message_move_task(**args)
        while True:
            tasks = (await sqs.list_message_move_tasks(SourceArn=arns[0], MaxResults=1)).get("Results", [])
            if tasks and tasks[0].get("Status") in ("COMPLETED", "FAILED", "CANCELLED"):
                if tasks[0]["Status"] != "COMPLETED":
                    raise RuntimeError(
                        f"message move task {tasks[0]['Status']}: {tasks[0].get('FailureReason', '')}"
                    )
                return int(tasks[0].get("ApproximateNumberOfMessagesMoved", 0))
            await asyncio.sleep(0.5)

    async def depths(self) -> Depths:
        url, dlq = await self._resolve()
        sqs = await self._sqs()
        names = [
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed",
        ]
        main = (await sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names))["Attributes"]
        dead = (await sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=names[:1]))["Attributes"]
        return Depths(
            visible=int(main.get(names[0], 0)),
            in_flight=int(main.get(names[1], 0)),
            delayed=int(main.get(names[2], 0)),
            dead=int(dead.get(names[0], 0)),
        )

    async def close(self) -> None:
        if self._stack is not None:
            await self._stack.aclose()
            self._stack = None
            self._client = None
