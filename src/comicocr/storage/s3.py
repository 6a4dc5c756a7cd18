"""Amazon S3 (and any S3-compatible server) through boto3, which honours the standard AWS
variables and config chain (``AWS_ENDPOINT_URL``, ``AWS_REGION``, credentials)."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any

from comicocr.errors import PageError, PermanentError, RetryableError
from comicocr.storage.objects import http_status_error

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
        """4xx is permanent, but what S3 says to retry: throttling, timeouts, a conditional
        write racing another to the same key (409 ConditionalRequestConflict: exactly the
        redelivered page that conditional writes exist for), an aborted conflicting operation,
        a credential that expired or a clock that drifted."""
        from botocore.exceptions import ClientError

        if isinstance(exc, ClientError):
            code = str(exc.response.get("Error", {}).get("Code", ""))
            status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
            if code in _RETRY_CODES:
                return RetryableError(f"{what}: {code}")
            if code in ("NoSuchKey", "404", "NoSuchBucket", "AccessDenied", "403"):
                return PermanentError(f"{what}: {code}")
            if status:
                return http_status_error(status, code, what)  # 408 and 429 retryable, as every store
        return RetryableError(f"{what}: {type(exc).__name__}")


_RETRY_CODES = frozenset(
    {
        "SlowDown",
        "Throttling",
        "RequestTimeout",
        "ConditionalRequestConflict",
        "OperationAborted",
        "ExpiredToken",
        "RequestTimeTooSkewed",
    }
)


STORE = S3Store()
