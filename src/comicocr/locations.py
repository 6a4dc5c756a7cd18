"""Addresses of images and outputs: which schemes are served, and what lies inside which root.

Pure string logic (no I/O, nothing heavy), so the CLI and the consumer can refuse an
address before anything is enqueued or dispatched; the worker checks again on the real
file system (``storage.check_allowed`` resolves symlinks).
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Sequence

# What the storage package reads and writes. "" is a local path. One spelling per store:
# az:// (not abfs://, wasb://) and gs:// (not gcs://), so that an allowed root and the
# address of what lies inside it always compare as strings.
OBJECT_SCHEMES = ("s3", "az", "gs")
OUTPUT_SCHEMES = ("", *OBJECT_SCHEMES)
IMAGE_SCHEMES = ("", *OBJECT_SCHEMES, "http", "https")
# What the first part of an object address names, for messages.
BUCKET_WORD = {"s3": "bucket", "az": "container", "gs": "bucket"}


def scheme_of(uri: str) -> str:
    """``s3://b/k`` -> ``s3``; a local path -> ``""``."""
    head, sep, _ = uri.partition("://")
    return head.lower() if sep else ""


def output_problem(uri: str) -> str | None:
    """Why ``uri`` cannot be an output, or None when it can."""
    scheme = scheme_of(uri)
    if scheme not in OUTPUT_SCHEMES:
        served = ", ".join(f"{s}://" for s in OUTPUT_SCHEMES if s)
        return f"output scheme {scheme}:// is not served (use a folder or {served})"
    if scheme in OBJECT_SCHEMES:
        return object_address_problem(uri, "output")
    if not uri.strip():
        return "output is empty"
    return None


def object_address_problem(uri: str, what: str) -> str | None:
    """Why an ``s3://``, ``az://`` or ``gs://`` address cannot be used, or None: it names no
    bucket (container), or a key segment is ``.`` or ``..`` (a store or an HTTP stack may
    resolve those, and a key must mean what it says when roots are compared)."""
    scheme = scheme_of(uri)
    bucket, _, key = uri.partition("://")[2].partition("/")
    if not bucket:
        return f"{what} {uri[:200]!r} names no {BUCKET_WORD[scheme]}"
    if any(part in (".", "..") for part in key.split("/")):
        return f"{what} {uri[:200]!r} has a '.' or '..' segment"
    try:  # an object key is UTF-8 on every store: a stray byte (a mis-decoded argv) cannot be one
        uri.encode("utf-8")
    except UnicodeEncodeError:
        return f"{what} {uri[:200]!r} is not valid UTF-8"
    if any(ord(c) < 32 or ord(c) == 127 for c in uri):
        return f"{what} {uri[:200]!r} holds a control character"
    return None


def _normal(uri: str) -> str:
    scheme = scheme_of(uri)
    if scheme:
        return f"{scheme}://" + posixpath.normpath(uri.partition("://")[2]).strip("/")
    return os.path.abspath(uri)


def within(uri: str, root: str) -> bool:
    """Whether ``uri`` is ``root`` or lies below it, by the address alone (``..`` resolved)."""
    if scheme_of(uri) != scheme_of(root):
        return False
    target, base = _normal(uri), _normal(root)
    return target == base or target.startswith(base.rstrip("/") + "/")


def within_any(uri: str, roots: Sequence[str]) -> bool:
    return any(within(uri, root) for root in roots)
