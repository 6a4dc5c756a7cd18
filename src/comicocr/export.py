"""Results in the shapes other tools read: JSON Lines, and mokuro volumes for manga readers.

``jsonl``: one result per line, sorted by canonical id, each line the result file as it is.

``mokuro``: the ``.mokuro`` file mokuro writes beside a volume's folder of images, which
mokuro's web reader (reader.mokuro.app) and its forks load with the images to show selectable
text over each page::

    {"version", "title", "title_uuid", "volume", "volume_uuid",
     "pages": [{"version", "img_width", "img_height", "img_path",
                "blocks": [{"box": [x1, y1, x2, y2], "vertical", "font_size",
                            "lines": [...], "lines_coords": [[[x, y] x 4] per line]}]}]}

A volume is the parent folder of the canonical ids (``series/vol1/010`` is page ``010`` of
volume ``vol1`` of title ``series``), written as ``<DIR>/series/vol1.mokuro``; pages without a
folder form one volume named after the results folder. A block is a balloon (its lines in
reading order); ``img_path`` is the page's file name (an archive member's path inside the
archive), relative to the volume's folder as the reader expects. The uuids are derived from
the names, so exporting again gives the same ones and a reader keeps its reading progress.
"""

from __future__ import annotations

import json
import os
import posixpath
import statistics
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

from comicocr.ids import id_problem
from comicocr.report import Failure, Loaded, parse_bbox, sort_key

MOKURO_VERSION = "0.2.0"  # the .mokuro format came with mokuro 0.2; readers take any 0.2.x
_NAMESPACE = uuid.UUID("5b0c5a0e-3f0e-4c55-9d4e-6b1c0c5e0c21")  # comicocr's, for stable uuids


def _line(data: dict[str, Any]) -> str:
    try:
        line = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
        line.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate in the data: keep it, \u-escaped
        line = json.dumps(data, separators=(",", ":"))
    return line


def write_jsonl(results: Iterable[Loaded], out: IO[str]) -> int:
    """Each result on one line, sorted by canonical id; returns how many were written."""
    count = 0
    for item in sorted(results, key=lambda r: r.canonical_id):
        out.write(_line(item.data) + "\n")
        count += 1
    return count


# -- mokuro ------------------------------------------------------------------------------


def volume_of(canonical_id: str, default: str) -> tuple[str, str, str, str]:
    """(volume path, title path, title, volume) of a page: ``series/vol1/010`` -> ``series/vol1``,
    ``series``, ``series``, ``vol1``. A page with no folder (or a volume with no title folder
    above it) takes ``default``, the results folder's name."""
    folder = posixpath.dirname(canonical_id)
    if not folder:
        return default, default, default, default
    title_path = posixpath.dirname(folder) or default
    return folder, title_path, posixpath.basename(title_path), posixpath.basename(folder)


def _lines(regions: list[dict[str, Any]]) -> list[tuple[str, tuple[float, float, float, float], Any]]:
    """(text, bbox, balloon) of each region with text and a valid box."""
    found = []
    for region in regions:
        if not isinstance(region, dict):
            continue
        box = parse_bbox(region.get("bbox"))
        text = region.get("text")
        if box is None or not isinstance(text, str) or not text.strip():
            continue
        balloon = region.get("balloon")
        if isinstance(balloon, bool) or not isinstance(balloon, int | str):
            balloon = None
        found.append((text, box, balloon))
    return found


def _corners(box: tuple[float, float, float, float]) -> list[list[float]]:
    x, y, w, h = box
    return [[x, y], [x + w, y], [x + w, y + h], [x, y + h]]


def blocks_of(regions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Regions -> mokuro blocks: the lines of one balloon together, in reading order; a line
    with no balloon is a block of its own. A block is vertical when most of its lines are
    columns (taller than 1.5x their width); font_size is the median line thickness."""
    grouped: dict[object, list[tuple[str, tuple[float, float, float, float]]]] = {}
    for n, (text, box, balloon) in enumerate(_lines(regions)):
        key = ("balloon", balloon) if balloon is not None else ("line", n)
        grouped.setdefault(key, []).append((text, box))
    blocks = []
    for lines in grouped.values():
        boxes = [box for _, box in lines]
        vertical = sum(h > 1.5 * w for _, _, w, h in boxes) * 2 > len(boxes)
        thickness = [w if vertical else h for _, _, w, h in boxes]
        x1 = min(b[0] for b in boxes)
        y1 = min(b[1] for b in boxes)
        x2 = max(b[0] + b[2] for b in boxes)
        y2 = max(b[1] + b[3] for b in boxes)
        blocks.append(
            {
                "box": [round(x1), round(y1), round(x2), round(y2)],
                "vertical": vertical,
                "font_size": round(statistics.median(thickness), 1),
                "lines_coords": [_corners(box) for box in boxes],
                "lines": [text for text, _ in lines],
            }
        )
    return blocks


def img_path_of(data: dict[str, Any], canonical_id: str) -> str:
    """The page's file name within its volume folder, as mokuro's reader matches images."""
    member = data.get("source_archive_member")
    if isinstance(member, str) and member:
        return member
    source = data.get("source_image_path")
    if isinstance(source, str) and source:
        return posixpath.basename(source.rstrip("/")) or posixpath.basename(canonical_id)
    return posixpath.basename(canonical_id)


def mokuro_page(item: Loaded) -> dict[str, Any]:
    """One result -> a mokuro page; ValueError when the result has no image size."""
    image = item.data.get("image")
    width = image.get("width") if isinstance(image, dict) else None
    height = image.get("height") if isinstance(image, dict) else None
    if not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in (width, height)):
        raise ValueError("the result has no image width and height")
    regions = item.data.get("text_regions")
    return {
        "version": MOKURO_VERSION,
        "img_width": width,
        "img_height": height,
        "blocks": blocks_of(regions if isinstance(regions, list) else []),
        "img_path": img_path_of(item.data, item.canonical_id),
    }


def mokuro_volumes(
    results: Iterable[Loaded], default: str
) -> tuple[dict[str, dict[str, Any]], list[Failure]]:
    """Volume path -> its .mokuro data, pages in natural order; and the pages left out."""
    volumes: dict[str, dict[str, Any]] = {}
    failures: list[Failure] = []
    for item in sorted(results, key=lambda r: sort_key(r.canonical_id)):
        problem = id_problem(item.canonical_id)
        if problem:
            failures.append(Failure(item.canonical_id, "not exported", problem))
            continue
        try:
            page = mokuro_page(item)
        except ValueError as exc:
            failures.append(Failure(item.canonical_id, "not exported", str(exc)))
            continue
        path, title_path, title, name = volume_of(item.canonical_id, default)
        if path not in volumes:
            volumes[path] = {
                "version": MOKURO_VERSION,
                "title": title,
                "title_uuid": str(uuid.uuid5(_NAMESPACE, f"title:{title_path}")),
                "volume": name,
                "volume_uuid": str(uuid.uuid5(_NAMESPACE, f"volume:{path}")),
                "pages": [],
            }
        volumes[path]["pages"].append(page)
    return volumes, failures


def write_mokuro(volumes: dict[str, dict[str, Any]], out_dir: Path) -> list[Path]:
    """Write ``<out_dir>/<volume path>.mokuro`` for each volume; returns the files written."""
    written = []
    root = out_dir.resolve()
    for path, volume in volumes.items():
        target = (root / f"{path}.mokuro").resolve()
        if not target.is_relative_to(root):  # ids are checked; a symlinked folder could still lead out
            raise ValueError(f"{path}.mokuro would be written outside {out_dir}")
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.tmp")
        tmp.write_text(_line(volume), encoding="utf-8")
        os.replace(tmp, target)
        written.append(target)
    return written
