"""The result file: the seed's schema plus what makes a result trustworthy."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from comicocr.contract import Region

SCHEMA_VERSION = 1


def build_result(
    *,
    canonical_id: str,
    source_image_path: str,
    method: str,
    engine_info: dict[str, str],
    regions: list[Region],
    image_bytes: bytes,
    width: int,
    height: int,
    lang: str,
    direction: str,
    duration_s: float,
    source_member: str | None = None,
) -> dict[str, Any]:
    """One page's result. ``regions`` must already be in reading order."""
    result = {
        # the seed's schema, unchanged
        "canonical_id": canonical_id,
        "source_image_path": source_image_path,
        "ocr_method": method,
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "text_regions": [r.to_json() for r in regions],
        "full_text": "\n".join(r.text for r in regions),
        "num_regions": len(regions),
        # provenance: which engine read which bytes, and how
        "schema_version": SCHEMA_VERSION,
        "engine": engine_info,
        "image": {"width": width, "height": height, "sha256": hashlib.sha256(image_bytes).hexdigest()},
        "lang": lang,
        "reading_direction": direction,
        "duration_s": round(duration_s, 3),
    }
    if source_member is not None:  # a page of a CBZ: source_image_path is the archive
        result["source_archive_member"] = source_member
    return result


def encode(result: dict[str, Any]) -> bytes:
    return json.dumps(result, ensure_ascii=False, indent=2).encode("utf-8")
