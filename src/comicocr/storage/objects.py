"""Object stores behind one small interface: S3, Azure Blob and Google Cloud Storage.

Each store is a thin class over its cloud's own SDK (boto3, azure-storage-blob,
google-cloud-storage), because each SDK is what gives the contracts this package keeps:
a conditional create (S3 ``If-None-Match: *``, Azure ``if_none_match="*"``, GCS
``if_generation_match=0``), a listing that starts at a name (``StartAfter``,
``start_from``, ``startOffset``), its cloud's standard credential chain and its
emulator's endpoint. A store only makes calls; what the calls mean (a missing image, a
result already there, a listing that follows the ids asked) is decided once, in the
modules that use it.

An SDK is imported when its scheme is first used, never before: the consumer side and a
plain local run load none of them, and a missing one is a ConfigError naming the extra.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

from comicocr.errors import ConfigError, PageError, PermanentError, RetryableError
from comicocr.locations import OBJECT_SCHEMES, object_address_problem, scheme_of


class ObjectStore(Protocol):
    """What the storage package asks of a cloud: six calls, errors left to ``error``."""

    def size(self, bucket: str, key: str) -> int | None:
        """The object's size in bytes; None when there is no such object (or bucket)."""

    def read(self, bucket: str, key: str, length: int) -> bytes:
        """At most ``length`` bytes from the start of a (non-empty) object."""

    def write(self, bucket: str, key: str, data: bytes, content_type: str, overwrite: bool) -> bool:
        """Store ``data`` whole in one request; with ``overwrite=False`` only when no object is
        there. False when one was (the condition failed)."""

    def delete(self, bucket: str, key: str) -> None: ...

    def list_from(self, bucket: str, prefix: str, first: str) -> Iterator[list[str]]:
        """Pages of the keys directly under ``prefix`` (sub-prefixes as ``prefix/sub/``), in
        order, from ``first`` (a full key, included) on; it may start a little earlier."""

    def error(self, exc: Exception, what: str) -> PageError:
        """``exc`` as our taxonomy: a 4xx no retry mends is permanent, the rest retryable.
        The message holds ``what`` and an error code, never the SDK's text (it may quote a
        signed URL)."""


# scheme -> (module under comicocr.storage, the extra that installs its SDK, a module of the SDK)
_STORES = {
    "s3": ("s3", "", "boto3"),
    "az": ("azure", "azure", "azure.storage.blob"),
    "gs": ("gcs", "gcs", "google.cloud.storage"),
}


@functools.cache
def store_for(scheme: str) -> ObjectStore:
    """The store serving ``scheme``; ConfigError when its SDK is not installed."""
    module, extra, sdk = _STORES[scheme]
    try:
        importlib.import_module(sdk)
    except ImportError:
        raise ConfigError(
            f"{scheme}:// needs the {sdk.replace('.', '-')} package: pip install 'comicocr[{extra}]'"
        ) from None
    store: ObjectStore = importlib.import_module(f"comicocr.storage.{module}").STORE
    return store


def is_object(uri: str) -> bool:
    """An ``s3://``, ``az://`` or ``gs://`` address."""
    return scheme_of(uri) in OBJECT_SCHEMES


@dataclass(frozen=True)
class ObjectPath:
    """An object address taken apart: its store, bucket (container) and key."""

    scheme: str
    bucket: str
    key: str

    @property
    def store(self) -> ObjectStore:
        return store_for(self.scheme)


def object_path(uri: str) -> ObjectPath:
    """``az://container/some/key`` -> its parts; PermanentError for one that names no
    bucket or holds a ``..`` segment."""
    problem = object_address_problem(uri, "address")
    if problem:
        raise PermanentError(problem)
    bucket, _, key = uri.partition("://")[2].partition("/")
    return ObjectPath(scheme_of(uri), bucket, key)


@contextlib.contextmanager
def mapped(path: ObjectPath, what: str) -> Iterator[None]:
    """Run store calls with their errors mapped by the store (our own pass through)."""
    try:
        yield
    except (PageError, ConfigError):
        raise
    except UnicodeError:  # a key no store can hold: no retry mends it
        raise PermanentError(f"{what}: the address is not valid UTF-8") from None
    except Exception as exc:
        raise path.store.error(exc, what) from None


def http_status_error(status: int, code: str, what: str) -> PageError:
    """The rule every store applies to an HTTP answer: 4xx is permanent (not found, denied,
    bad request), except timeouts and throttling; 5xx and the rest are retryable."""
    if 400 <= status < 500 and status not in (408, 429):
        return PermanentError(f"{what}: {code or status}")
    return RetryableError(f"{what}: {code or status}")
