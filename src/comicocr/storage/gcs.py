"""Google Cloud Storage through google-cloud-storage: ``gs://bucket/key``.

Credentials are Application Default Credentials (``GOOGLE_APPLICATION_CREDENTIALS``,
``gcloud auth application-default login``, the machine's service account);
``STORAGE_EMULATOR_HOST`` points the client at an emulator, anonymously.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any

from comicocr.errors import ConfigError, PageError, PermanentError, RetryableError
from comicocr.storage.objects import http_status_error

_PAGE = 1000
# Seconds one call may take with the SDK's retries (its default: 120 s; a probe at a dead
# endpoint would sit that long). The pipeline retries the page later.
_RETRY_S = 30.0
_TIMEOUT = (10, 60)  # connect, read


@functools.cache
def client() -> Any:
    from google.auth.exceptions import DefaultCredentialsError
    from google.cloud import storage

    try:
        return storage.Client()
    except DefaultCredentialsError:
        raise ConfigError(
            "gs:// needs Google Application Default Credentials: GOOGLE_APPLICATION_CREDENTIALS,"
            " gcloud auth application-default login, or the machine's service account"
        ) from None


@functools.cache
def _retry() -> Any:
    from google.cloud.storage.retry import DEFAULT_RETRY

    return DEFAULT_RETRY.with_timeout(_RETRY_S)


def _blob(bucket: str, key: str) -> Any:
    return client().bucket(bucket).blob(key)


class GCSStore:
    def size(self, bucket: str, key: str) -> int | None:
        found = client().bucket(bucket).get_blob(key, timeout=_TIMEOUT, retry=_retry())
        return None if found is None else int(found.size)  # None: no such object, or bucket

    def read(self, bucket: str, key: str, length: int) -> bytes:
        # A ranged GET (``end`` is inclusive): a blob grown since its size was checked is
        # still read only this far.
        data: bytes = _blob(bucket, key).download_as_bytes(
            start=0, end=length - 1, timeout=_TIMEOUT, retry=_retry()
        )
        return data

    def write(self, bucket: str, key: str, data: bytes, content_type: str, overwrite: bool) -> bool:
        from google.api_core.exceptions import PreconditionFailed

        try:
            # One multipart upload (small data): whole or nothing. if_generation_match=0: only
            # when no live object has this name. Retried either way: the same bytes again.
            _blob(bucket, key).upload_from_string(
                data,
                content_type=content_type,
                if_generation_match=None if overwrite else 0,
                timeout=_TIMEOUT,
                retry=_retry(),
            )
        except PreconditionFailed:
            return False
        return True

    def delete(self, bucket: str, key: str) -> None:
        _blob(bucket, key).delete(timeout=_TIMEOUT, retry=_retry())

    def list_from(self, bucket: str, prefix: str, first: str) -> Iterator[list[str]]:
        listing = client().list_blobs(
            bucket,
            prefix=prefix,
            delimiter="/",
            start_offset=first,
            page_size=_PAGE,
            timeout=_TIMEOUT,
            retry=_retry(),
        )
        for page in listing.pages:
            names = [blob.name for blob in page]  # read the page first: it fills its prefixes
            yield names + sorted(page.prefixes)

    def error(self, exc: Exception, what: str) -> PageError:
        from google.api_core.exceptions import GoogleAPICallError
        from google.auth.exceptions import DefaultCredentialsError

        if isinstance(exc, DefaultCredentialsError):
            return PermanentError(f"{what}: no Google credentials found")
        if isinstance(exc, GoogleAPICallError) and exc.code:
            return http_status_error(int(exc.code), f"{int(exc.code)} {type(exc).__name__}", what)
        return RetryableError(f"{what}: {type(exc).__name__}")


STORE = GCSStore()
