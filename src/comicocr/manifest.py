"""Manifest CSV -> validated work items.

The seed's format: a header ``canonical_id,absolute_image_path`` and one page per row.
Bad rows (missing field, duplicate id, unsafe id) are reported with their line number
and skipped; the good rows go through. A manifest of a million rows is never held whole:
a first pass checks every row and keeps only their ids (``scan_manifest``), a second yields
the good rows one by one (``iter_manifest``).
"""

from __future__ import annotations

import codecs
import csv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from comicocr.errors import ConfigError
from comicocr.ids import id_problem
from comicocr.idset import IdSet

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


@dataclass
class Scan:
    """What a first pass over a manifest found: every good row's id (with its line), the rows
    rejected with their reasons (missing field, unsafe id, duplicate), how many rows there were."""

    ids: IdSet
    rejected: list[RejectedRow]
    rows: int


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
    """Read and validate a manifest whole (a small one); raise ConfigError only when the file
    itself is unusable. ``scan_manifest`` and ``iter_manifest`` read one of any size."""
    scan = scan_manifest(path)
    return Manifest(list(iter_manifest(path, scan, image_path_prefix)), scan.rejected)


def scan_manifest(path: Path) -> Scan:
    """The first pass: check the file and every row, holding only the ids (an ``IdSet``).

    Everything wrong with the file itself (not found, not UTF-8, not CSV, no header) is a
    ConfigError here, before anything is sent."""
    ids, rejected, rows = IdSet(), [], 0
    for item in _rows(path):
        rows += 1
        if isinstance(item, RejectedRow):
            rejected.append(item)
            continue
        line, cid, _ = item
        problem = id_problem(cid)
        if problem:
            rejected.append(RejectedRow(line, problem))
            continue
        first = ids.add(cid, line)
        if first is not None:
            rejected.append(RejectedRow(line, f"duplicate canonical_id (first on line {first})"))
    return Scan(ids, rejected, rows)


def iter_manifest(path: Path, scan: Scan, image_path_prefix: str | None = None) -> Iterator[ManifestRow]:
    """The second pass: the good rows of ``scan``, one at a time, image paths made absolute."""
    base = path.parent.resolve()
    for item in _rows(path):
        if isinstance(item, RejectedRow):
            continue
        line, cid, raw_path = item
        if scan.ids.get(cid) == line:  # not a row the scan rejected (nor one added since)
            yield ManifestRow(line, cid, resolve_image_path(raw_path, image_path_prefix, base))


def _rows(path: Path) -> Iterator[tuple[int, str, str] | RejectedRow]:
    try:
        handle = path.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise ConfigError(f"cannot read manifest {path}: {exc.strerror}") from None
    try:
        with handle:
            yield from _iter_rows(csv.DictReader(handle), path)
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
