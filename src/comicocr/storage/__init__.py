"""Read page images and write result files: a local folder, ``s3://bucket/prefix``,
``az://container/prefix`` (Azure Blob) or ``gs://bucket/prefix`` (Google Cloud Storage).

Everything here is synchronous: it runs inside Lithops workers. Each object store goes
through its cloud's own SDK and standard credential chain (``objects.py`` says why).
Writes are atomic (temp file + rename locally; a single PUT to an object store), so a reader
never sees half a result and a redelivered page overwrites the same key; with
``overwrite=False`` the store refuses to replace a result that is there.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from pathlib import Path

import structlog

from comicocr.errors import ConfigError, PageError, PermanentError, RetryableError
from comicocr.locations import IMAGE_SCHEMES, scheme_of
from comicocr.storage import local
from comicocr.storage.done import existing_results
from comicocr.storage.objects import is_object, mapped, object_path, store_for
from comicocr.storage.places import RESULT_SUFFIX, exists, exists_or_false, result_location

__all__ = [
    "RESULT_SUFFIX",
    "check_allowed",
    "check_store",
    "existing_results",
    "exists",
    "exists_or_false",
    "is_http",
    "is_object",
    "is_s3",
    "probe_writable",
    "read_bytes",
    "result_location",
    "write_atomic",
]

log = structlog.get_logger("comicocr.storage")


def is_s3(uri: str) -> bool:
    return scheme_of(uri) == "s3"


def is_http(uri: str) -> bool:
    return scheme_of(uri) in ("http", "https")


def check_store(uri: str) -> None:
    """ConfigError when ``uri`` names an object store whose SDK is not installed here (one
    line naming the extra); nothing for a folder. No I/O."""
    if is_object(uri):
        store_for(scheme_of(uri))


def check_allowed(uri: str, roots: list[str], allow_http: bool = False) -> None:
    """Refuse image paths outside ``roots`` (folders, ``s3://bucket[/prefix]``,
    ``az://container[/prefix]``, ``gs://bucket[/prefix]``); empty roots allow all.

    Local paths are compared after resolving symlinks and ``..``, so a link inside an
    allowed folder that points outside it is refused too. An object address with a ``..``
    segment is refused whatever the roots: a store may resolve it."""
    scheme = scheme_of(uri)
    if scheme in ("http", "https"):
        if not allow_http:
            raise PermanentError(
                "http(s) image paths are refused (set COMICOCR_ALLOW_HTTP=true to allow them)"
            )
        return
    if scheme not in IMAGE_SCHEMES:
        raise PermanentError(f"unsupported image URI scheme: {scheme[:20]}")
    if scheme:
        object_path(uri)  # names a bucket, holds no ".." segment
    if not roots:
        return
    if scheme:
        if any(scheme_of(r) == scheme and uri.startswith(_as_prefix(r)) for r in roots):
            return
    else:
        real = Path(os.path.realpath(uri))
        if any(not scheme_of(r) and real.is_relative_to(os.path.realpath(r)) for r in roots):
            return
    raise PermanentError(f"image path is outside the allowed roots: {uri[:200]}")


def _as_prefix(root: str) -> str:
    """``s3://comics`` and ``s3://comics/`` both cover ``s3://comics/...`` only."""
    return root.rstrip("/") + "/"


def _read_http(uri: str, max_bytes: int) -> bytes:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(uri, timeout=30) as resp:  # noqa: S310 - scheme checked by the caller
            data: bytes = resp.read(max_bytes + 1)
    except urllib.error.HTTPError as exc:
        if 400 <= exc.code < 500 and exc.code not in (408, 429):
            raise PermanentError(f"cannot fetch image: HTTP {exc.code}") from None
        raise RetryableError(f"cannot fetch image: HTTP {exc.code}") from None
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise RetryableError(f"cannot fetch image: {type(exc).__name__}") from None
    return data


def _read_object(uri: str, max_bytes: int) -> bytes:
    """Its size first (one HEAD): an image over the cap is refused before a byte is fetched."""
    path = object_path(uri)
    with mapped(path, f"cannot read {uri[:200]}"):
        size = path.store.size(path.bucket, path.key)
        if size is None:
            raise PermanentError(f"image not found: {uri[:200]}")
        if size > max_bytes:
            raise PermanentError(f"image is larger than {max_bytes} bytes")
        return path.store.read(path.bucket, path.key, max_bytes + 1) if size else b""


def read_bytes(uri: str, max_bytes: int) -> bytes:
    """Read an image, refusing anything over ``max_bytes``."""
    scheme = scheme_of(uri)
    data: bytes
    if scheme in ("http", "https"):
        data = _read_http(uri, max_bytes)
    elif is_object(uri):
        data = _read_object(uri, max_bytes)
    elif scheme:
        raise PermanentError(f"unsupported image URI scheme: {scheme[:20]}")
    else:
        data = local.read_file(uri, max_bytes)
    if len(data) > max_bytes:
        raise PermanentError(f"image is larger than {max_bytes} bytes")
    return data


def write_atomic(
    location: str, data: bytes, content_type: str = "application/json", overwrite: bool = True
) -> bool:
    """Write ``data`` so that readers see either nothing or the whole file.

    With ``overwrite=False`` an object store's PUT is conditional (S3 ``If-None-Match: *``,
    Azure ``if_none_match="*"``, GCS ``if_generation_match=0``): when two deliveries of one
    page race, the first result stays. Returns False when it was there. (Locally the rename
    replaces: both deliveries wrote the same page.)
    """
    if is_object(location):
        path = object_path(location)
        with mapped(path, "cannot write result"):
            return path.store.write(path.bucket, path.key, data, content_type, overwrite)
    local.write_file(location, data)
    return True


def probe_writable(output: str) -> None:
    """Write and delete a small file under ``output``, or raise ConfigError saying why not:
    a results location that cannot be written (a missing bucket or container, no
    credentials, a missing SDK, a read-only folder) is found before a page is enqueued, not
    after every page was OCR'd and dead-lettered."""
    location = f"{output.rstrip('/')}/.comicocr-probe-{uuid.uuid4().hex}"
    remote = is_object(output)
    # Folders the probe creates are removed again: a run refused later leaves nothing behind.
    made = [] if remote else [p for p in [Path(output), *Path(output).parents] if not p.exists()]
    try:
        write_atomic(location, b"probe", "text/plain")
    except (PageError, ConfigError) as exc:
        raise ConfigError(f"results cannot be written to {output[:200]}: {exc}") from None
    try:
        if remote:
            path = object_path(location)
            with mapped(path, "cannot delete the probe"):
                path.store.delete(path.bucket, path.key)
        else:
            os.unlink(location)
    except (PageError, OSError) as exc:  # written but not deletable: writing works, which is what matters
        log.warning("storage.probe_left_behind", location=location, error=type(exc).__name__)
    for folder in made:  # deepest first
        with contextlib.suppress(OSError):
            folder.rmdir()
