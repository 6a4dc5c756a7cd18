"""SQS (or any SQS-compatible server) through aiobotocore.

Two ways to name a queue:

- a queue URL (``https://sqs.eu-west-1.amazonaws.com/123456789012/pages``, or any
  SQS-compatible server's ``http://127.0.0.1:4566/000000000000/pages``) is used as given: its
  host is the endpoint, its region comes from the host (or the AWS config chain), and it is
  never created: ``ensure()`` checks that it exists. Its dead-letter queue is the one its
  RedrivePolicy names (or ``--dlq``, or ``<name>-dlq``).
- ``sqs://NAME`` is looked up at the endpoint of the standard AWS variables
  (``AWS_ENDPOINT_URL_SQS``/``AWS_ENDPOINT_URL``), and ``ensure()`` creates it and
  ``NAME-dlq`` when missing, with a RedrivePolicy whose high ``maxReceiveCount`` is only a
  safety net (the pipeline counts failed attempts itself). An existing queue is used as it is.

A name ending in ``.fifo`` is a FIFO queue (its dead-letter queue: ``NAME-dlq.fifo``). Each page is
its own message group, so pages do not wait for each other; a page's first message is
deduplicated by its canonical id for SQS's 5-minute window; FIFO queues have no per-message
delay (``delays_messages`` is False): the acker holds a throttled page back by its visibility
instead, and a failed attempt's retry comes back without backoff (its attempt still counts).

Credentials come from the standard chain. A queue and its dead-letter queue share one client.

``stats()`` takes what the SQS API has no attribute for (the oldest message's age, deletes per
minute) from CloudWatch's ``AWS/SQS`` metrics, at the SQS server's own host unless that is AWS
(then CloudWatch's regional endpoint, or ``AWS_ENDPOINT_URL_CLOUDWATCH``); where CloudWatch does
not answer (a server without it, no permission) those are None. AWS publishes the metrics a
minute or more late, so the rates are over the last minutes CloudWatch has figures for.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import re
import time
import uuid
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.exceptions import ClientError

from comicocr.errors import ConfigError
from comicocr.queues.base import (
    DEAD_PEEK_LIMIT,
    ERROR_CLASS_ATTR,
    MAX_BATCH,
    STATS_WINDOWS_MIN,
    UNCLASSIFIED,
    Depths,
    Message,
    Outgoing,
    QueueGone,
    QueueStats,
    Sent,
    in_tens,
    per_minute,
)

SAFETY_NET_RECEIVES = 50
_COUNTS = (
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
)
# sqs.eu-west-1.amazonaws.com, eu-west-1.queue.amazonaws.com (legacy), sqs.cn-north-1.amazonaws.com.cn
_AWS_HOST = re.compile(r"^(?:sqs\.([a-z0-9-]+)|([a-z0-9-]+)\.queue)\.amazonaws\.com(?:\.cn)?$")
_NOT_FOUND = ("AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist", "NonExistentQueue")
_PEEK_HOLD_S = 30  # how long a dead letter stays hidden while stats() counts it (handed back at once)
_CLOUDWATCH_TIMEOUT_S = 10.0
_CLOUDWATCH_PAUSE_S = 300.0  # after CloudWatch failed: ask again only this much later
_CLOUDWATCH_LAG_MIN = 5  # how far behind CloudWatch's figures may be, still giving 15-minute rates


@dataclass(frozen=True)
class Endpoint:
    url: str | None  # None: whatever the standard AWS variables say
    region: str


def _config_region() -> str | None:
    region = os.environ.get("AWS_REGION") or get_session().get_config_variable("region")
    return str(region) if region else None


def endpoint_of(address: str) -> Endpoint:
    """Where a queue address points: a URL's own host, or (``sqs://``) the AWS config."""
    if address.startswith("sqs://"):
        return Endpoint(None, _config_region() or "us-east-1")
    parts = urlsplit(address)
    segments = [p for p in parts.path.split("/") if p]
    if parts.scheme not in ("http", "https") or not parts.hostname or len(segments) < 2:
        raise ConfigError(
            f"not an SQS queue URL: {address[:200]!r} (expected https://HOST/ACCOUNT/NAME, or sqs://NAME)"
        )
    found = _AWS_HOST.match(parts.hostname)
    region = (found.group(1) or found.group(2)) if found else None
    if parts.hostname in ("sqs.amazonaws.com", "queue.amazonaws.com"):
        region = "us-east-1"  # the legacy global hosts
    # A server that is not AWS ignores the region, but requests are signed with one.
    return Endpoint(f"{parts.scheme}://{parts.netloc}", region or _config_region() or "us-east-1")


def queue_name(address: str) -> str:
    """``https://host/123/name``, ``sqs://name`` or a queue ARN -> ``name``."""
    return re.split(r"[/:]", address.rstrip("/"))[-1]


def dead_letter_name(name: str) -> str:
    """The default DLQ of ``name``: ``name-dlq`` (``name-dlq.fifo`` for a FIFO queue)."""
    return f"{name.removesuffix('.fifo')}-dlq.fifo" if name.endswith(".fifo") else f"{name}-dlq"


def _token(text: str) -> str:
    """A FIFO group or deduplication id (at most 128 ASCII characters) standing for ``text``."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _url_of(address: str | None) -> str | None:
    """A full queue URL is used as it is; ``sqs://name`` is looked up (None here)."""
    return address if address and "://" in address and not address.startswith("sqs://") else None


def _rates(per_minute_sums: dict[int, float] | None, since: float) -> dict[int, float | None]:
    """Deletes per minute over each window, ending where CloudWatch's figures end (they lag);
    None for a window reaching back before ``since``, where the figures asked for begin."""
    if not per_minute_sums:
        return dict.fromkeys(STATS_WINDOWS_MIN)
    end = 60.0 * (max(per_minute_sums) + 1)
    return {
        w: per_minute(per_minute_sums, end, w) if end - 60 * w >= since else None for w in STATS_WINDOWS_MIN
    }


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


class _Client:
    """One aiobotocore SQS client, opened on first use, shared by a queue and its DLQ."""

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        self._stack: AsyncExitStack | None = None
        self._client: Any = None
        self._cloudwatch: Any = None
        self._cloudwatch_off_until = 0.0

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
                get_session().create_client(
                    "sqs", region_name=self.endpoint.region, endpoint_url=self.endpoint.url, config=config
                )
            )
        return self._client

    async def metric(self, name: str, queue: str, statistic: str, start: datetime) -> dict[int, float] | None:
        """``AWS/SQS`` metric ``name`` of ``queue`` per minute from ``start`` (CloudWatch rounds it
        down to the minute) until now: ``{minute since the epoch: value}``, or None where
        CloudWatch does not answer."""
        if time.monotonic() < self._cloudwatch_off_until:
            return None
        try:
            if self._cloudwatch is None:
                await self.get()  # opens the exit stack the CloudWatch client shares
                assert self._stack is not None
                host = urlsplit(self.endpoint.url).hostname if self.endpoint.url else None
                # An AWS SQS host is not CloudWatch's: let botocore find the region's endpoint.
                url = None if host is None or _AWS_HOST.match(host) else self.endpoint.url
                config = AioConfig(
                    retries={"max_attempts": 1, "mode": "standard"}, connect_timeout=3, read_timeout=5
                )
                self._cloudwatch = await self._stack.enter_async_context(
                    get_session().create_client(
                        "cloudwatch", region_name=self.endpoint.region, endpoint_url=url, config=config
                    )
                )
            resp = await asyncio.wait_for(
                self._cloudwatch.get_metric_statistics(
                    Namespace="AWS/SQS",
                    MetricName=name,
                    Dimensions=[{"Name": "QueueName", "Value": queue}],
                    StartTime=start,
                    EndTime=datetime.now(UTC),
                    Period=60,
                    Statistics=[statistic],
                ),
                _CLOUDWATCH_TIMEOUT_S,
            )
        except Exception:  # not there, not allowed, not reachable: unknown, and not asked again soon
            self._cloudwatch_off_until = time.monotonic() + _CLOUDWATCH_PAUSE_S
            return None
        return {
            int(p["Timestamp"].timestamp() // 60): float(p[statistic])
            for p in resp.get("Datapoints", [])
            if statistic in p
        }

    async def close(self) -> None:
        if self._stack is not None:
            await self._stack.aclose()
            self._stack = None
            self._client = None
            self._cloudwatch = None


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
        self.fifo = self.name.endswith(".fifo")
        self.delays_messages = not self.fifo
        self.visibility_s = visibility_s
        self._url = _url_of(address)
        self._given_url = self._url is not None  # the operator's queue: never created here
        self._client = _client or _Client(endpoint_of(address))
        self._dead: SQSQueue | None = None
        self._main: SQSQueue | None = None  # on a DLQ found through its main queue's RedrivePolicy
        if _client is None:  # a main queue; a dead-letter queue is made by its main queue
            dlq = dlq_address or f"sqs://{dead_letter_name(self.name)}"
            self._dead = SQSQueue(dlq, visibility_s=visibility_s, _client=self._client)
            if dlq_address is None and self._url is not None:
                self._dead._main = self

    @property
    def dead_letters(self) -> SQSQueue:
        if self._dead is None:
            raise ConfigError(f"{self.address} is a dead-letter queue: it has no dead-letter queue")
        return self._dead

    async def url(self) -> str:
        if self._url is None:
            if self._main is not None:
                self._url = await self._main._dead_letter_url()
            else:
                self._url = await self._lookup(self.name)
        return self._url

    async def _lookup(self, name: str, account: str | None = None) -> str:
        sqs = await self._client.get()
        args = {"QueueName": name, **({"QueueOwnerAWSAccountId": account} if account else {})}
        try:
            return str((await sqs.get_queue_url(**args))["QueueUrl"])
        except ClientError as exc:
            if _error_code(exc) in _NOT_FOUND:  # QueueGone: a consumer may make it again (recreate)
                raise QueueGone(f"no SQS queue named {name!r} at this endpoint") from None
            raise

    async def _attributes(self, *names: str) -> dict[str, str]:
        sqs = await self._client.get()
        try:
            resp = await sqs.get_queue_attributes(QueueUrl=await self.url(), AttributeNames=list(names))
        except ClientError as exc:
            if _error_code(exc) in _NOT_FOUND:
                raise QueueGone(
                    f"queue {self.address[:200]} does not exist (comicocr creates queues only for sqs://NAME)"
                ) from None
            raise
        return {k: str(v) for k, v in resp.get("Attributes", {}).items()}

    async def _arn(self) -> str:
        return (await self._attributes("QueueArn"))["QueueArn"]

    async def _dead_letter_url(self) -> str:
        """The DLQ this queue's RedrivePolicy names, else ``<name>-dlq`` by name."""
        policy = (await self._attributes("RedrivePolicy")).get("RedrivePolicy")
        if policy:
            parts = str(json.loads(policy).get("deadLetterTargetArn", "")).split(":")
            if len(parts) == 6:  # arn:aws:sqs:REGION:ACCOUNT:NAME
                return await self._lookup(parts[5], parts[4])
        fallback = dead_letter_name(self.name)
        try:
            return await self._lookup(fallback)
        except ConfigError:
            raise ConfigError(
                f"queue {self.address[:200]} has no RedrivePolicy and there is no {fallback}:"
                " name its dead-letter queue with --dlq (or COMICOCR_DLQ)"
            ) from None

    async def _create(self, name: str, attributes: dict[str, str]) -> str:
        """Create ``name``; an existing queue (even one made with other attributes) is used as is."""
        sqs = await self._client.get()
        try:
            return str((await sqs.create_queue(QueueName=name, Attributes=attributes))["QueueUrl"])
        except ClientError as exc:
            if _error_code(exc) not in ("QueueAlreadyExists", "QueueNameExists"):
                raise
            return await self._lookup(name)

    async def ensure(self) -> None:
        """A URL: check that the queue and its DLQ exist. ``sqs://NAME``: create what is missing."""
        dead = self.dead_letters
        if self._url is not None:
            await self._arn()
            await dead._arn()
            return
        if dead.fifo != self.fifo:
            raise ConfigError(
                f"{self.address[:200]} and its dead-letter queue {dead.address[:200]} must both be FIFO"
                " queues (names ending in .fifo) or both standard"
            )
        fifo = {"FifoQueue": "true"} if self.fifo else {}
        dead._url = await self._create(dead.name, {"MessageRetentionPeriod": "1209600", **fifo})
        redrive = {"deadLetterTargetArn": await dead._arn(), "maxReceiveCount": str(SAFETY_NET_RECEIVES)}
        attributes = {"VisibilityTimeout": str(self.visibility_s), "RedrivePolicy": json.dumps(redrive)}
        self._url = await self._create(self.name, {**attributes, **fifo})

    def _entries(self, entries: list[Outgoing]) -> list[dict[str, Any]]:
        out = []
        for i, e in enumerate(entries):
            entry: dict[str, Any] = {"Id": str(i), "MessageBody": e.body}
            if self.fifo:
                # A re-send (no dedup_id) gets a fresh id: its original is still in the window.
                token = _token(e.dedup_id) if e.dedup_id is not None else uuid.uuid4().hex
                entry["MessageGroupId"] = token  # one group per page: no head-of-line blocking
                entry["MessageDeduplicationId"] = token
            elif e.delay_s:
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

    async def send_batch(self, entries: list[Outgoing]) -> Sent:
        assert len(entries) <= MAX_BATCH
        if not entries:
            return Sent()
        sqs = await self._client.get()
        resp = await sqs.send_message_batch(QueueUrl=await self.url(), Entries=self._entries(entries))
        return Sent(failed=self._failed(resp))  # a FIFO queue does not say what it deduplicated

    async def recreate(self) -> bool:
        if self._given_url or self._dead is None:
            return False
        self._url = self._dead._url = None  # look up (or create) both afresh
        await self.ensure()
        return True

    async def receive(self, max_messages: int, wait_s: float, visibility_s: int) -> list[Message]:
        sqs = await self._client.get()
        try:
            resp = await sqs.receive_message(
                QueueUrl=await self.url(),
                MaxNumberOfMessages=min(max_messages, MAX_BATCH),
                WaitTimeSeconds=int(min(20, max(0, wait_s))),
                VisibilityTimeout=visibility_s,
                MessageSystemAttributeNames=["ApproximateReceiveCount"],
                MessageAttributeNames=["All"],
            )
        except ClientError as exc:
            if _error_code(exc) in _NOT_FOUND:
                raise QueueGone(f"queue {self.address[:200]} no longer exists") from None
            raise
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
        attrs = await self._attributes(*_COUNTS)
        return Depths(*(int(attrs.get(name, 0)) for name in _COUNTS))

    async def depths(self) -> Depths:
        own = await self._counts()
        if self._dead is None:
            return own
        dead = await self._dead._counts()
        return Depths(own.visible, own.in_flight, own.delayed, dead=dead.pending)

    async def stats(self, *, dead_peek: int = DEAD_PEEK_LIMIT) -> QueueStats:
        """Depths from the queue's attributes, dead letters by class from a peek at the DLQ
        (at most ``dead_peek``), the oldest message's age and deletes per minute from CloudWatch."""
        own = await self._counts()
        dead = await self._dead._counts() if self._dead is not None else None
        depths = Depths(own.visible, own.in_flight, own.delayed, dead=dead.pending if dead else 0)
        by_class: dict[str, int] = {}
        if self._dead is not None and dead is not None and dead.visible and dead_peek > 0:
            by_class = await self._dead._peek_classes(min(dead_peek, dead.visible))

        async def oldest_age() -> float | None:
            if not depths.pending:  # no oldest message, whatever a minutes-old CloudWatch figure says
                return None
            start = datetime.now(UTC) - timedelta(minutes=_CLOUDWATCH_LAG_MIN)
            ages = await self._client.metric("ApproximateAgeOfOldestMessage", self.name, "Maximum", start)
            return ages[max(ages)] if ages else None  # the newest figure

        start = datetime.now(UTC) - timedelta(minutes=max(STATS_WINDOWS_MIN) + _CLOUDWATCH_LAG_MIN)
        since = 60 * (start.timestamp() // 60)
        deleted_metric = self._client.metric("NumberOfMessagesDeleted", self.name, "Sum", start)
        oldest, deleted = await asyncio.gather(oldest_age(), deleted_metric)
        return QueueStats(
            depths=depths,
            oldest_age_s=oldest,
            dead_by_class=by_class,
            dead_by_class_sampled=sum(by_class.values()) < depths.dead,
            deleted_per_min=_rates(deleted, since),
        )

    async def _peek_classes(self, limit: int) -> dict[str, int]:
        """Count up to ``limit`` messages of this queue by error class: receive them (hidden for
        a moment), then make them visible again at once, as ``redrive --dry-run`` does."""
        classes: dict[str, str] = {}  # message id -> class (a standard queue may repeat one)
        held: list[str] = []
        try:
            # A receive that fails leaves a partial count: still an answer, marked as a sample.
            with contextlib.suppress(Exception):
                while len(classes) < limit:
                    got = await self.receive(min(MAX_BATCH, limit - len(classes)), 1, _PEEK_HOLD_S)
                    if not got:
                        break
                    for m in got:
                        held.append(m.receipt)
                        classes[m.id] = m.attributes.get(ERROR_CLASS_ATTR) or UNCLASSIFIED
        finally:
            for group in in_tens(held):
                with contextlib.suppress(Exception):  # else it comes back after _PEEK_HOLD_S
                    await self.change_visibility_batch([(r, 0) for r in group])
        counts: dict[str, int] = {}
        for error_class in classes.values():
            counts[error_class] = counts.get(error_class, 0) + 1
        return counts

    async def close(self) -> None:
        if self._dead is not None:  # the main queue owns the shared client
            await self._client.close()
