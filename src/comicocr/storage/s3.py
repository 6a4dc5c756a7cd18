"""Amazon S3 (and any S3-compatible server) through boto3, which honours the standard AWS
variables and config chain (``AWS_ENDPOINT_URL``, ``AWS_REGION``, credentials)."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any

from comicocr.errors import PageError, PermanentError, RetryableError

_NOT_FOUND = ("404", "NoSuchKey", "NotFound")


@functools.cache
def client() -> Any:
    import boto3

    return boto3.client("s3")


def _code(exc: Exception) -> str | None:
    from botocore.exceptions import ClientError

    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", ""))
    return None


class S3Store:
    def size(self, bucket: str, key: str) -> int | None:
        try:
            head = client().head_object(Bucket=bucket, Key=key)
        except Exception as exc:
            if _code(exc) in _NOT_FOUND:
                return None
            raise
        return int(head["ContentLength"])

    def read(self, bucket: str, key: str, length: int) -> bytes:
        body = client().get_object(Bucket=bucket, Key=key)["Body"]
        try:
            data: bytes = body.read(length)
        finally:
            body.close()
        return data

    def write(self, bucket: str, key: str, data: bytes, content_type: str, overwrite: bool) -> bool:
        extra = {} if overwrite else {"IfNoneMatch": "*"}
        try:
            client().put_object(Bucket=bucket, Key=key, Body=data, ContentType=content_type, **extra)
        except Exception as exc:
            if _code(exc) in ("PreconditionFailed", "412"):
                return False
            raise
        return True

    def delete(self, bucket: str, key: str) -> None:
        client().delete_object(Bucket=bucket, Key=key)

    def list_from(self, bucket: str, prefix: str, first: str) -> Iterator[list[str]]:
        # StartAfter is exclusive: start just before ``first`` (a key shorter by one character)
        paginator = client().get_paginator("list_objects_v2")
        pages = paginator.paginate(Bucket=bucket, Prefix=prefix, Delimiter="/", StartAfter=first[:-1])
        for page in pages:
            keys = [item["Key"] for item in page.get("Contents", [])]
            yield keys + [p["Prefix"] for p in page.get("CommonPrefixes", [])]

    def error(self, exc: Exception, what: str) -> PageError:
        """4xx (but throttling and timeouts) is permanent."""
        from botocore.exceptions import ClientError

        if isinstance(exc, ClientError):
            code = str(exc.response.get("Error", {}).get("Code", ""))
            status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
            if code in ("NoSuchKey", "404", "NoSuchBucket", "AccessDenied", "403") or (
                400 <= status < 500 and code not in ("SlowDown", "Throttling", "RequestTimeout")
            ):
                return PermanentError(f"{what}: {code or status}")
        return RetryableError(f"{what}: {type(exc).__name__}")


STORE = S3Store()
