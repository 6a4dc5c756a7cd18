"""Addresses of images and outputs: which schemes are served, and what lies inside which root.

Pure string logic (no I/O, nothing heavy), so the CLI and the consumer can refuse an
address before anything is enqueued or dispatched; the worker checks again on the real
file system (``storage.check_allowed`` resolves symlinks).
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Sequence

# What storage.py reads and writes. "" is a local path.
OUTPUT_SCHEMES = ("", "s3")
IMAGE_SCHEMES = ("", "s3", "http", "https")


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
    if scheme == "s3" and not uri[len("s3://") :].partition("/")[0]:
        return f"output {uri[:200]!r} names no bucket"
    if not uri.strip():
        return "output is empty"
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
