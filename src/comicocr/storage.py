"""Read page images and write result files: a local folder or ``s3://bucket/prefix``.

Everything here is synchronous: it runs inside Lithops workers. S3 goes through
boto3, which honours the standard AWS variables (``AWS_ENDPOINT_URL``...).
Writes are atomic (temp file + rename locally; a single PUT on S3), so a reader
never sees half a result and a redelivered page overwrites the same key.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import stat
import tempfile
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import structlog

from comicocr.errors import ConfigError, PageError, PermanentError, RetryableError
from comicocr.ids import check_id
from comicocr.locations import output_problem

RESULT_SUFFIX = "_ocr.json"
log = structlog.get_logger("comicocr.storage")


def is_s3(uri: str) -> bool:
    return uri.startswith("s3://")


def split_s3(uri: str) -> tuple[str, str]:
    """``s3://bucket/some/key`` -> (``bucket``, ``some/key``)."""
    bucket, _, key = uri[len("s3://") :].partition("/")
    if not bucket:
        raise PermanentError(f"not an s3 URI: {uri[:200]}")
    return bucket, key


@functools.cache
def _s3() -> Any:
    import boto3

    return boto3.client("s3")


def _s3_error(exc: Exception, what: str) -> Exception:
    """Map a botocore error to our taxonomy: 4xx (but throttling) is permanent."""
    from botocore.exceptions import ClientError

    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code", "")
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        if code in ("NoSuchKey", "404", "NoSuchBucket", "AccessDenied", "403") or (
            400 <= status < 500 and code not in ("SlowDown", "Throttling", "RequestTimeout")
        ):
            return PermanentError(f"{what}: {code or status}")
    return RetryableError(f"{what}: {type(exc).__name__}")


def is_http(uri: str) -> bool:
    return uri.startswith(("http://", "https://"))


def check_allowed(uri: str, roots: list[str], allow_http: bool = False) -> None:
    """Refuse image paths outside ``roots`` (folders, ``s3://bucket[/prefix]``); empty roots allow all.

    Local paths are compared after resolving symlinks and ``..``, so a link inside an
    allowed folder that points outside it is refused too.
    """
    if is_http(uri):
        if not allow_http:
            raise PermanentError(
                "http(s) image paths are refused (set COMICOCR_ALLOW_HTTP=true to allow them)"
            )
        return
    if "://" in uri and not is_s3(uri):
        raise PermanentError(f"unsupported image URI scheme: {uri.split('://', maxsplit=1)[0][:20]}")
    if not roots:
        return
    if is_s3(uri):
        if any(is_s3(r) and uri.startswith(r.rstrip("/") + "/") for r in roots):
            return
    else:
        real = Path(os.path.realpath(uri))
        if any(not is_s3(r) and real.is_relative_to(os.path.realpath(r)) for r in roots):
            return
    raise PermanentError(f"image path is outside the allowed roots: {uri[:200]}")


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


def read_bytes(uri: str, max_bytes: int) -> bytes:
    """Read an image, refusing anything over ``max_bytes``."""
    data: bytes
    if is_http(uri):
        data = _read_http(uri, max_bytes)
    elif is_s3(uri):
        bucket, key = split_s3(uri)
        try:
            head = _s3().head_object(Bucket=bucket, Key=key)
            if head["ContentLength"] > max_bytes:
                raise PermanentError(f"image is larger than {max_bytes} bytes")
            data = _s3().get_object(Bucket=bucket, Key=key)["Body"].read(max_bytes + 1)
        except PermanentError:
            raise
        except Exception as exc:
            raise _s3_error(exc, f"cannot read {uri[:200]}") from None
    elif "://" in uri:
        raise PermanentError(f"unsupported image URI scheme: {uri.split('://', maxsplit=1)[0][:20]}")
    else:
        data = _read_local(uri, max_bytes)
    if len(data) > max_bytes:
        raise PermanentError(f"image is larger than {max_bytes} bytes")
    return data


def _read_local(path: str, max_bytes: int) -> bytes:
    """A regular file only: a FIFO or a device would block the worker or never end."""
    try:
        # O_NONBLOCK: opening a FIFO with no writer returns at once instead of hanging.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        raise PermanentError(f"image not found: {path[:200]}") from None
    except OSError as exc:  # name too long, a directory, no permission...: no retry mends it
        raise PermanentError(f"cannot read image {path[:200]}: {exc.strerror}") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        if stat.S_ISDIR(mode):
            raise PermanentError(f"image path is a directory: {path[:200]}")
        raise PermanentError(f"image path is not a regular file (a FIFO, socket or device): {path[:200]}")
    with os.fdopen(fd, "rb") as handle:
        try:
            return handle.read(max_bytes + 1)
        except OSError as exc:
            raise PermanentError(f"cannot read image {path[:200]}: {exc.strerror}") from None


# Errors no retry can mend: the page goes to the DLQ at once, with the reason.
_PERMANENT_WRITE_ERRNOS = {errno.ENAMETOOLONG, errno.EISDIR, errno.ENOTDIR, errno.ELOOP, errno.EINVAL}


def result_location(output: str, canonical_id: str) -> str:
    """Where the result of ``canonical_id`` lives under ``output`` (a folder or s3 URI)."""
    key = check_id(canonical_id) + RESULT_SUFFIX
    problem = output_problem(output)
    if problem:  # Settings and the planner refuse these first; never write them as a folder
        raise PermanentError(problem)
    if is_s3(output):
        return output.rstrip("/") + "/" + key
    root = Path(output).resolve()
    path = (root / key).resolve()
    if not path.is_relative_to(root):  # check_id already forbids this; keep the guard
        raise PermanentError("result path escapes the output folder")
    return str(path)


def exists(location: str) -> bool:
    if is_s3(location):
        from botocore.exceptions import ClientError

        bucket, key = split_s3(location)
        try:
            _s3().head_object(Bucket=bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise _s3_error(exc, "cannot check result") from None
        return True
    return os.path.exists(location)


# On S3, fewer ids than this under one prefix are checked one request each; more, by listing.
_LIST_FROM = 20
# A listing covers the key range of the ids asked, and stops after this many keys per id asked
# (at least one page of 1,000): a few pages, or an unsorted block, into a prefix holding a
# million results do not list the million. The ids past where it stopped are asked one by one.
_KEYS_PER_ID = 4


def existing_results(output: str, canonical_ids: Iterable[str]) -> set[str]:
    """The ids among ``canonical_ids`` whose result exists under ``output``: exactly, and
    with a cost that follows the ids asked, not what the output holds.

    Skip-if-done reads a manifest a block at a time, so this is asked again and again about
    one big folder. A local folder: one ``lstat`` per id (a few microseconds; a listing would
    read the whole folder for every block). S3: one ListObjectsV2 per 1,000 keys over the
    range of names asked (a manifest in id order lists each prefix about once over a whole
    run), not one request per page. A result that is a symlink is checked on its own, as
    ``result_location`` does (one pointing out of the output is no result: not done).
    """
    by_folder: dict[str, list[str]] = {}
    for cid in canonical_ids:
        try:
            check_id(cid)
        except ValueError:
            continue  # never a result: its worker dead-letters it, named
        folder, _, _ = cid.rpartition("/")
        by_folder.setdefault(folder, []).append(cid)
    found: set[str] = set()
    s3 = is_s3(output)
    for folder, ids in by_folder.items():
        if not s3:
            found.update(_local_results(output, folder, ids))
            continue
        one_by_one = ids
        if len(ids) >= _LIST_FROM:
            try:
                listed, up_to = _listed_s3(output, folder, sorted(_name(cid) for cid in ids))
            except PageError:  # may write but not list (an IAM policy), a blip: one by one
                listed, up_to = set(), ""
            found.update(cid for cid in ids if _name(cid) in listed)
            one_by_one = [cid for cid in ids if _name(cid) > up_to]
        found.update(cid for cid in one_by_one if _exists_or_false(output, cid))
    return found


def _name(canonical_id: str) -> str:
    """The result's file name in its folder."""
    return canonical_id.rpartition("/")[2] + RESULT_SUFFIX


def _exists_or_false(output: str, canonical_id: str) -> bool:
    try:
        return exists(result_location(output, canonical_id))
    except (PageError, OSError):  # cannot be placed (a symlink pointing out), cannot be asked: not done
        return False


def _local_results(output: str, folder: str, ids: list[str]) -> list[str]:
    """The ids of one folder of a local output that have a result: a regular file, or a
    symlink the worker would accept."""
    root = Path(output).resolve()
    where = (root / folder).resolve()
    if not where.is_relative_to(root):  # a symlinked folder pointing out: nothing is done there
        return []
    found = []
    for cid in ids:
        try:
            mode = os.lstat(where / _name(cid)).st_mode
        except OSError:  # not there, or cannot be asked: not done
            continue
        if stat.S_ISREG(mode) or (stat.S_ISLNK(mode) and _exists_or_false(output, cid)):
            found.append(cid)
    return found


def _listed_s3(output: str, folder: str, names: list[str]) -> tuple[set[str], str]:
    """The result objects among the (sorted) ``names`` in one prefix of an S3 output, and the
    name the listing reached: names after it were not listed (the key budget ran out)."""
    bucket, base = split_s3(output.rstrip("/"))
    prefix = "".join(f"{p}/" for p in (base, folder) if p)
    wanted, found = set(names), set[str]()
    budget = max(1000, _KEYS_PER_ID * len(names))
    # StartAfter is exclusive: start just before the first name (a key shorter by one character)
    start = prefix + names[0][:-1]
    try:
        paginator = _s3().get_paginator("list_objects_v2")
        pages = paginator.paginate(Bucket=bucket, Prefix=prefix, Delimiter="/", StartAfter=start)
        for page in pages:
            keys = [item["Key"] for item in page.get("Contents", [])]
            keys += [p["Prefix"] for p in page.get("CommonPrefixes", [])]
            found.update(n for n in (k[len(prefix) :] for k in keys) if n in wanted)
            budget -= len(keys)
            reached = max(keys)[len(prefix) :] if keys else names[-1]
            if reached >= names[-1] or not page.get("IsTruncated"):
                return found, names[-1]
            if budget <= 0:
                return found, reached
    except Exception as exc:
        raise _s3_error(exc, "cannot list results") from None
    return found, names[-1]


def write_atomic(
    location: str, data: bytes, content_type: str = "application/json", overwrite: bool = True
) -> bool:
    """Write ``data`` so that readers see either nothing or the whole file.

    With ``overwrite=False`` on S3 the PUT is conditional (``If-None-Match: *``): when two
    deliveries of one page race, the first result stays. Returns False when it was there.
    """
    if is_s3(location):
        from botocore.exceptions import ClientError

        bucket, key = split_s3(location)
        extra = {} if overwrite else {"IfNoneMatch": "*"}
        try:
            _s3().put_object(Bucket=bucket, Key=key, Body=data, ContentType=content_type, **extra)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("PreconditionFailed", "412"):
                return False
            raise _s3_error(exc, "cannot write result") from None
        except Exception as exc:
            raise _s3_error(exc, "cannot write result") from None
        return True
    path = Path(location)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())  # durable before the message is deleted
            os.replace(tmp, path)  # atomic: the same key is replaced whole, never duplicated
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        if exc.errno in _PERMANENT_WRITE_ERRNOS:
            raise PermanentError(f"cannot write result {location[:200]}: {exc.strerror}") from None
        raise RetryableError(f"cannot write result: {exc.strerror}") from None
    return True


def probe_writable(output: str) -> None:
    """Write and delete a small file under ``output``, or raise ConfigError saying why not:
    a results location that cannot be written is found before a page is enqueued, not after
    every page was OCR'd and dead-lettered."""
    location = f"{output.rstrip('/')}/.comicocr-probe-{uuid.uuid4().hex}"
    # Folders the probe creates are removed again: a run refused later leaves nothing behind.
    made = [] if is_s3(output) else [p for p in [Path(output), *Path(output).parents] if not p.exists()]
    try:
        write_atomic(location, b"probe", "text/plain")
    except (PermanentError, RetryableError) as exc:
        raise ConfigError(f"results cannot be written to {output[:200]}: {exc}") from None
    try:
        if is_s3(location):
            bucket, key = split_s3(location)
            _s3().delete_object(Bucket=bucket, Key=key)
        else:
            os.unlink(location)
    except Exception as exc:  # written but not deletable: writing works, which is what matters
        log.warning("storage.probe_left_behind", location=location, error=type(exc).__name__)
    for folder in made:  # deepest first
        with contextlib.suppress(OSError):
            folder.rmdir()
