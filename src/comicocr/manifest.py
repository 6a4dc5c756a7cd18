"""Manifest CSV -> validated work items.

The seed's format: a header ``canonical_id,absolute_image_path`` and one page per row.
Bad rows (missing field, duplicate id, unsafe id) are reported with their line number
and skipped; the good rows go through.
"""

from __future__ import annotations

import codecs
import csv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from comicocr.errors import ConfigError
from comicocr.ids import id_problem

REQUIRED_COLUMNS = ("canonical_id", "absolute_image_path")


@dataclass(frozen=True)
class ManifestRow:
    line: int
    canonical_id: str
    image_path: str


@dataclass(frozen=True)
class RejectedRow:
    line: int
    reason: str


@dataclass
class Manifest:
    rows: list[ManifestRow]
    rejected: list[RejectedRow]


def resolve_image_path(raw: str, prefix: str | None, base_dir: Path) -> str:
    """Make a manifest path absolute: URIs stay, relative paths join the prefix or base_dir."""
    if "://" in raw:
        return raw
    if prefix:
        if "://" in prefix:
            return prefix.rstrip("/") + "/" + raw.lstrip("/")
        return str((Path(prefix) / raw).resolve()) if not Path(raw).is_absolute() else raw
    path = Path(raw)
    return str(path if path.is_absolute() else (base_dir / path).resolve())


def read_manifest(path: Path, image_path_prefix: str | None = None) -> Manifest:
    """Read and validate a manifest; raise ConfigError only when the file itself is unusable."""
    try:
        handle = path.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise ConfigError(f"cannot read manifest {path}: {exc.strerror}") from None
    try:
        with handle:
            return _read(handle, path, image_path_prefix)
    except UnicodeDecodeError:
        raise ConfigError(
            f"manifest {path} is not UTF-8 text (first bad byte at offset {_bad_byte(path)}):"
            " save it as UTF-8"
        ) from None


def _bad_byte(path: Path) -> int:
    """The file offset of the first byte that is not UTF-8 (read again, only on that error)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = 0
    with path.open("rb") as raw:
        while block := raw.read(1 << 16):
            try:
                decoder.decode(block)
            except UnicodeDecodeError as exc:
                return offset + exc.start - len(decoder.getstate()[0])
            offset += len(block)
    return offset


def _read(handle: TextIO, path: Path, image_path_prefix: str | None) -> Manifest:
    rows, rejected = [], []
    seen: dict[str, int] = {}
    for item in _iter_rows(csv.DictReader(handle), path):
        if isinstance(item, RejectedRow):
            rejected.append(item)
            continue
        line, cid, raw_path = item
        problem = id_problem(cid)
        if problem:
            rejected.append(RejectedRow(line, problem))
        elif cid in seen:
            rejected.append(RejectedRow(line, f"duplicate canonical_id (first on line {seen[cid]})"))
        else:
            seen[cid] = line
            image = resolve_image_path(raw_path, image_path_prefix, path.parent.resolve())
            rows.append(ManifestRow(line, cid, image))
    return Manifest(rows, rejected)


def _iter_rows(reader: csv.DictReader[str], path: Path) -> Iterator[tuple[int, str, str] | RejectedRow]:
    missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise ConfigError(
            f"manifest {path} needs the header 'canonical_id,absolute_image_path'"
            f" (missing: {', '.join(missing)})"
        )
    try:
        for record in reader:
            line = reader.line_num
            cid = (record.get("canonical_id") or "").strip()
            raw_path = (record.get("absolute_image_path") or "").strip()
            if not cid or not raw_path:
                yield RejectedRow(line, "missing canonical_id or absolute_image_path")
                continue
            yield line, cid, raw_path
    except csv.Error as exc:
        raise ConfigError(f"manifest {path} is not valid CSV near line {reader.line_num}: {exc}") from None
