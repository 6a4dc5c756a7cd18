"""The message body contract: what the producer sends and the consumer accepts.

A body is JSON, either one page::

    {"canonical_id": "Series/issue01/page_001", "image_path": "s3://b/p1.png",
     "method": "tesseract", "lang": "en", "options": {}, "output": "s3://out/prefix"}

or an S3 event notification (``{"Records": [{"s3": {...}}]}``) whose created objects
become pages named after their keys. Anything else is a poison message.
"""

from __future__ import annotations

import json
import posixpath
from typing import Any
from urllib.parse import unquote_plus

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from comicocr.errors import PoisonMessage
from comicocr.ids import check_id
from comicocr.queues.base import Outgoing

# A page body is a few hundred bytes and an S3 event a few KiB; SQS allows 256 KiB,
# so anything past this is hostile or a bug.
MAX_BODY_BYTES = 64 * 1024
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp", ".gif")


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


def parse_body(body: str) -> list[PageMessage]:
    """Turn a raw message body into pages, or raise PoisonMessage saying why not.

    An S3 event with no created image objects (e.g. the ``s3:TestEvent`` S3 sends
    when notifications are set up) yields an empty list: nothing to do, not an error.
    """
    if len(body.encode("utf-8", "surrogatepass")) > MAX_BODY_BYTES:
        raise PoisonMessage(f"message body is larger than {MAX_BODY_BYTES} bytes")
    try:
        data = json.loads(body)
    except json.JSONDecodeError as exc:
        raise PoisonMessage(f"message body is not JSON: {exc.msg}") from None
    if not isinstance(data, dict):
        raise PoisonMessage("message body is not a JSON object")
    if "Records" in data:
        return _pages_from_s3_event(data["Records"])
    if data.get("Event") == "s3:TestEvent":
        return []
    try:
        return [PageMessage.model_validate(data)]
    except ValidationError as exc:
        raise PoisonMessage(f"invalid page message: {_first_error(exc)}") from None


def _pages_from_s3_event(records: Any) -> list[PageMessage]:
    if not isinstance(records, list):
        raise PoisonMessage("S3 event 'Records' is not a list")
    pages: dict[str, PageMessage] = {}  # keyed by id: S3 may repeat a record
    for record in records:
        try:
            if not str(record.get("eventName", "")).startswith("ObjectCreated"):
                continue
            bucket = record["s3"]["bucket"]["name"]
            key = unquote_plus(record["s3"]["object"]["key"])
        except (AttributeError, KeyError, TypeError):
            raise PoisonMessage("S3 event record lacks s3.bucket.name or s3.object.key") from None
        stem, suffix = posixpath.splitext(key)
        if suffix.lower() not in IMAGE_SUFFIXES:
            continue  # a result file or a sidecar landing in the watched bucket
        try:
            pages[stem] = PageMessage(canonical_id=stem, image_path=f"s3://{bucket}/{key}")
        except ValidationError as exc:
            raise PoisonMessage(f"S3 key is not a safe canonical_id: {_first_error(exc)}") from None
    return list(pages.values())


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err.get("loc", ())) or "body"
    return f"{where}: {err.get('msg', 'invalid')}"[:300]
