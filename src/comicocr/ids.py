"""Validation of canonical ids: the one place that decides what may become a storage key.

Ids may contain ``/`` (``Series/issue01/page_001`` mirrors into the result key), but
never ``..`` or ``.`` segments, a leading ``/``, backslashes, control characters,
empty segments, more than MAX_ID_LENGTH characters, or a segment longer than
MAX_SEGMENT_BYTES (file systems allow 255 bytes a name, and the result adds ``_ocr.json``).
"""

from __future__ import annotations

import unicodedata

MAX_ID_LENGTH = 512
MAX_SEGMENT_BYTES = 200


def id_problem(canonical_id: str) -> str | None:
    """Return why ``canonical_id`` is unsafe, or None when it is fine."""
    if not canonical_id or not canonical_id.strip():
        return "canonical_id is empty"
    if len(canonical_id) > MAX_ID_LENGTH:
        return f"canonical_id is longer than {MAX_ID_LENGTH} characters"
    if canonical_id != canonical_id.strip():
        return "canonical_id has leading or trailing whitespace"
    if canonical_id.startswith("/"):
        return "canonical_id starts with '/'"
    if "\\" in canonical_id:
        return "canonical_id contains a backslash"
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in canonical_id):
        return "canonical_id contains control characters"
    for segment in canonical_id.split("/"):
        if segment in ("", ".", ".."):
            return f"canonical_id has an empty, '.' or '..' segment: {canonical_id[:80]!r}"
        if len(segment.encode("utf-8", "surrogatepass")) > MAX_SEGMENT_BYTES:
            return f"canonical_id has a part longer than {MAX_SEGMENT_BYTES} bytes: {segment[:40]!r}..."
    return None


def check_id(canonical_id: str) -> str:
    """Return ``canonical_id`` unchanged, or raise ValueError saying why it is unsafe."""
    problem = id_problem(canonical_id)
    if problem:
        raise ValueError(problem)
    return canonical_id
