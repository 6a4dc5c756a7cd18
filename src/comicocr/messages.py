"""The message body contract: what the producer sends and the consumer accepts.

A body is JSON, either one page::

    {"canonical_id": "Series/issue01/page_001", "image_path": "s3://b/p1.png",
     "method": "tesseract", "lang": "en", "options": {}, "output": "s3://out/prefix"}

or an S3 event naming created objects, in any of the shapes AWS delivers it to a queue:

- an S3 event notification, ``{"Records": [{"eventName": "ObjectCreated:Put", "s3": {...}}]}``;
- the same inside an SNS notification (SNS -> SQS without raw message delivery), whose
  ``Message`` is the event as a JSON string (with raw delivery the body is the event itself);
- an EventBridge event, ``{"source": "aws.s3", "detail-type": "Object Created",
  "detail": {"bucket": {"name": ...}, "object": {"key": ...}}}``.

Each created image object is one page: ``s3://bucket/key`` gets the id ``bucket/key`` (see
``event_page_id``). A record that cannot be a page (an unsafe key, a second object taking an
id already taken) is refused on its own; the event's other records still become pages.
Anything else is a poison message.
"""

from __future__ import annotations

import json
import posixpath
import re
from dataclasses import dataclass, field
from typing import Any, TypeAlias
from urllib.parse import unquote_plus

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from comicocr.errors import PoisonMessage
from comicocr.ids import check_id
from comicocr.queues.base import Outgoing

# A page body is a few hundred bytes and an S3 event a few KiB; SQS allows 256 KiB,
# so anything past this is hostile or a bug.
MAX_BODY_BYTES = 64 * 1024
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp", ".gif")
# Set on a record re-sent alone because another object of its event took its id: the consumer
# dead-letters it (permanent) with this reason instead of running it.
COLLISION_ATTR = "comicocr-collision"
# S3's own rule is 3-63 of [a-z0-9.-]; older buckets and S3-compatible servers allow more.
# What matters here: no '/', so "bucket/key" splits back into the two it came from.
_BUCKET = re.compile(r"[A-Za-z0-9._-]{1,255}")


class PageMessage(BaseModel):
    """One page to OCR. Unset fields fall back to the consumer's settings."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    canonical_id: str = Field(min_length=1)
    image_path: str = Field(min_length=1, max_length=4096)
    member: str | None = Field(
        default=None, min_length=1, max_length=1024
    )  # a page inside the archive at image_path
    method: str | None = None
    lang: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)
    output: str | None = None

    @field_validator("canonical_id")
    @classmethod
    def _safe_id(cls, value: str) -> str:
        return check_id(value)

    def to_body(self) -> str:
        return self.model_dump_json(exclude_none=True, exclude_defaults=True)

    def to_outgoing(self) -> Outgoing:
        """The page's first message: deduplicated by the result it makes (its id, and its
        output when it names one), so a page waiting in the queue is not sent twice."""
        key = self.canonical_id if self.output is None else f"{self.output}\n{self.canonical_id}"
        return Outgoing(self.to_body(), dedup_id=key)


@dataclass(frozen=True)
class RefusedRecord:
    """A record of a several-record S3 event that cannot become a page. It is sent back to
    the queue alone, as a one-record event, so that it is dead-lettered on its own, under its
    key, while the event's other pages go on."""

    record: Any  # the record as it came
    reason: str
    collision: bool = False  # another object of the event took its id

    def to_outgoing(self) -> Outgoing:
        attrs = {COLLISION_ATTR: self.reason[:500]} if self.collision else {}
        return Outgoing(json.dumps({"Records": [self.record]}), attrs)


EventItem: TypeAlias = PageMessage | RefusedRecord


@dataclass(frozen=True)
class Parsed:
    """What a body names: its pages and, for an S3 event, the records it refused."""

    pages: list[PageMessage]
    refused: list[RefusedRecord] = field(default_factory=list)
    event: bool = False  # an S3 event (direct, through SNS, or EventBridge), not a page body
    # Created objects that are no image (a result file, a sidecar, an archive): nothing to do,
    # but named, so that the consumer can say why an upload made no page.
    ignored: list[str] = field(default_factory=list)

    @property
    def items(self) -> list[EventItem]:
        return [*self.pages, *self.refused]


def event_page_id(bucket: str, key: str, *, with_bucket: bool = True) -> str:
    """The canonical id of the page an S3 object makes: ``bucket/key``, extension kept, so
    that two objects never share a result (``s3://a/c/p9.png`` -> ``a/c/p9.png``, a result at
    ``<output>/a/c/p9.png_ocr.json``). ``with_bucket=False`` (one-bucket deployments) drops the
    bucket: ``c/p9.png``; the same key in two buckets is then a collision."""
    return f"{bucket}/{key}" if with_bucket else key


def parse_body(body: str, *, ids_with_bucket: bool = True) -> Parsed:
    """Turn a raw message body into pages, or raise PoisonMessage saying why not.

    An S3 event with no created image objects (e.g. the ``s3:TestEvent`` S3 sends
    when notifications are set up) yields no pages: nothing to do, not an error.
    """
    if len(body.encode("utf-8", "surrogatepass")) > MAX_BODY_BYTES:
        raise PoisonMessage(f"message body is larger than {MAX_BODY_BYTES} bytes")
    data = _json_object(body, "message body")
    if data.get("Type") == "Notification" and "Message" in data:  # SNS, without raw delivery
        if not isinstance(data["Message"], str):
            raise PoisonMessage("SNS notification's 'Message' is not a string")
        data = _json_object(data["Message"], "SNS notification's 'Message'")
    if "Records" in data:
        return _s3_notification(data["Records"], ids_with_bucket)
    if data.get("Event") == "s3:TestEvent":
        return Parsed([], event=True)
    if data.get("source") == "aws.s3" and "detail-type" in data:
        return _eventbridge(data, ids_with_bucket)
    try:
        return Parsed([PageMessage.model_validate(data)])
    except ValidationError as exc:
        raise PoisonMessage(f"invalid page message: {_first_error(exc)}") from None


def _json_object(text: str, what: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PoisonMessage(f"{what} is not JSON: {exc.msg}") from None
    except RecursionError:  # "[[[[..." deep enough to exhaust the parser: still one bad message
        raise PoisonMessage(f"{what} is nested too deeply") from None
    if not isinstance(data, dict):
        raise PoisonMessage(f"{what} is not a JSON object")
    return data


def _s3_notification(records: Any, with_bucket: bool) -> Parsed:
    if not isinstance(records, list):
        raise PoisonMessage("S3 event 'Records' is not a list")
    pages: dict[str, PageMessage] = {}  # by id: S3 may repeat a record
    refused: list[RefusedRecord] = []
    ignored: list[str] = []
    for record in records:
        try:
            if not isinstance(record, dict):
                raise PoisonMessage("S3 event record is not a JSON object")
            if not str(record.get("eventName", "")).startswith("ObjectCreated"):
                continue
            try:
                bucket, key = record["s3"]["bucket"]["name"], record["s3"]["object"]["key"]
            except (KeyError, TypeError):
                raise PoisonMessage("S3 event record lacks s3.bucket.name or s3.object.key") from None
            page = _object_page(bucket, key, with_bucket)
        except PoisonMessage as exc:
            refused.append(RefusedRecord(record, str(exc)))
            continue
        if page is None:
            ignored.append(f"s3://{bucket}/{unquote_plus(key)}")
            continue
        taken = pages.setdefault(page.canonical_id, page)
        if taken.image_path != page.image_path:
            reason = (
                f"id collision: {page.image_path[:300]} and {taken.image_path[:300]} (same event)"
                f" both map to the id {page.canonical_id[:300]!r}"
            )
            refused.append(RefusedRecord(record, reason, collision=True))
    return Parsed(list(pages.values()), refused, event=True, ignored=ignored)


def _eventbridge(event: dict[str, Any], with_bucket: bool) -> Parsed:
    if event["detail-type"] != "Object Created":  # deleted, restored, tagged...: not a new page
        return Parsed([], event=True)
    try:
        bucket, key = event["detail"]["bucket"]["name"], event["detail"]["object"]["key"]
    except (KeyError, TypeError):
        raise PoisonMessage("EventBridge S3 event lacks detail.bucket.name or detail.object.key") from None
    page = _object_page(bucket, key, with_bucket)
    if page is None:
        return Parsed([], event=True, ignored=[f"s3://{bucket}/{unquote_plus(key)}"])
    return Parsed([page], event=True)


def _object_page(bucket: Any, key: Any, with_bucket: bool) -> PageMessage | None:
    """The page a created object makes; None when it is no image (a result file or a sidecar
    landing in the watched bucket). Keys come URL-encoded (``red+flower.png``)."""
    if not isinstance(bucket, str) or not _BUCKET.fullmatch(bucket):
        raise PoisonMessage(f"S3 event bucket name is not a bucket name: {str(bucket)[:80]!r}")
    if not isinstance(key, str):
        raise PoisonMessage("S3 event object key is not a string")
    key = unquote_plus(key)
    if posixpath.splitext(key)[1].lower() not in IMAGE_SUFFIXES:
        return None
    try:
        cid = event_page_id(bucket, key, with_bucket=with_bucket)
        return PageMessage(canonical_id=cid, image_path=f"s3://{bucket}/{key}")
    except ValidationError as exc:
        raise PoisonMessage(f"S3 key {key[:200]!r} is not a safe canonical_id: {_first_error(exc)}") from None


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err.get("loc", ())) or "body"
    return f"{where}: {err.get('msg', 'invalid')}"[:300]
