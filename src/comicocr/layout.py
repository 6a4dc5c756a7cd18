"""Reading order: panels from the gutters, lines grouped into balloons, balloons ordered.

Every engine returns lines roughly top-to-bottom across the whole page, which reads
a two-panel row as one interleaved stream. A reader goes panel by panel (rows of
panels top to bottom; left-to-right for Western comics, right-to-left for manga),
and within a panel balloon by balloon. This module rebuilds that order from the
page image and the regions' boxes alone, so it works for every engine.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image

from comicocr.contract import Region

LTR, RTL = "ltr", "rtl"
_ANALYSIS_WIDTH = 400  # panels are found on a thumbnail: gutters survive downscaling


@dataclass(frozen=True)
class Box:
    x0: float
    y0: float
    x1: float
    y1: float

    @classmethod
    def of(cls, region: Region) -> Box:
        x, y, w, h = region.bbox
        return cls(x, y, x + w, y + h)

    def contains_point(self, x: float, y: float) -> bool:
        return self.x0 <= x <= self.x1 and self.y0 <= y <= self.y1

    def union(self, other: Box) -> Box:
        return Box(
            min(self.x0, other.x0), min(self.y0, other.y0), max(self.x1, other.x1), max(self.y1, other.y1)
        )


def default_direction(lang: str) -> str:
    """Manga (ja) reads right-to-left; everything else here left-to-right."""
    return RTL if lang == "ja" else LTR


def find_panels(image: Image.Image, direction: str = LTR) -> list[Box]:
    """Split the page at gutters (blank bands crossing a region), recursively, in reading order.

    Rows of panels come top to bottom; panels in a row left to right (or right to
    left for ``rtl``). A page with no gutters is one panel.
    """
    scale = _ANALYSIS_WIDTH / image.width if image.width > _ANALYSIS_WIDTH else 1.0
    small = image.convert("L")
    if scale < 1.0:
        small = small.resize(
            (_ANALYSIS_WIDTH, max(1, round(image.height * scale))), Image.Resampling.BILINEAR
        )
    ink = np.asarray(small) < 128
    boxes = _xy_cut(ink, 0, 0, ink.shape[1], ink.shape[0], direction, depth=0)
    return [Box(b.x0 / scale, b.y0 / scale, b.x1 / scale, b.y1 / scale) for b in boxes]


def _blank_runs(profile: np.ndarray, min_run: int) -> list[tuple[int, int]]:
    """Interior runs of blank (inkless) positions at least ``min_run`` long."""
    runs, start = [], None
    for i, blank in enumerate(profile):
        if blank and start is None:
            start = i
        elif not blank and start is not None:
            if start > 0 and i - start >= min_run:
                runs.append((start, i))
            start = None
    return runs  # a run touching the end is margin, not a gutter


def _xy_cut(ink: np.ndarray, x0: int, y0: int, x1: int, y1: int, direction: str, depth: int) -> list[Box]:
    region = ink[y0:y1, x0:x1]
    if region.size == 0 or depth > 12:
        return [Box(x0, y0, x1, y1)]
    # Trim blank margins so a margin is never mistaken for a gutter.
    rows, cols = np.flatnonzero(region.any(axis=1)), np.flatnonzero(region.any(axis=0))
    if rows.size == 0:
        return []
    x0, x1, y0, y1 = x0 + int(cols[0]), x0 + int(cols[-1]) + 1, y0 + int(rows[0]), y0 + int(rows[-1]) + 1
    region = ink[y0:y1, x0:x1]
    min_gutter = max(2, round(0.006 * ink.shape[1]))
    for axis in (0, 1):  # horizontal gutters first: rows of panels, then panels in a row
        # axis 0: a blank row crosses the region (a horizontal gutter); axis 1: a blank column
        blank = np.asarray(~region.any(axis=1 if axis == 0 else 0))
        runs = _blank_runs(blank, min_gutter)
        if not runs:
            continue
        cuts = [0] + [(a + b) // 2 for a, b in runs] + [len(blank)]
        spans = list(itertools.pairwise(cuts))
        if axis == 1 and direction == RTL:
            spans.reverse()
        out: list[Box] = []
        for a, b in spans:
            if axis == 0:
                out += _xy_cut(ink, x0, y0 + a, x1, y0 + b, direction, depth + 1)
            else:
                out += _xy_cut(ink, x0 + a, y0, x0 + b, y1, direction, depth + 1)
        return out
    return [Box(x0, y0, x1, y1)]


def _is_vertical(box: Box) -> bool:
    return (box.y1 - box.y0) > 1.5 * (box.x1 - box.x0)


def _group_balloons(boxes: Sequence[Box]) -> list[list[int]]:
    """Union lines whose boxes, grown by their text size, touch: a balloon's lines sit close."""
    parent = list(range(len(boxes)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def grown(b: Box) -> Box:
        size = min(b.x1 - b.x0, b.y1 - b.y0)  # line height (or column width)
        pad = 0.6 * size
        return Box(b.x0 - pad, b.y0 - pad, b.x1 + pad, b.y1 + pad)

    big = [grown(b) for b in boxes]
    for i in range(len(boxes)):
        for j in range(i + 1, len(boxes)):
            a, b = big[i], big[j]
            if a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1:
                parent[find(i)] = find(j)
    groups: dict[int, list[int]] = {}
    for i in range(len(boxes)):
        groups.setdefault(find(i), []).append(i)
    return list(groups.values())


def _order_boxes(boxes: Sequence[Box], direction: str) -> list[int]:
    """Order boxes like a reader: the top-most first, but among boxes beside it
    (overlapping its vertical span) the one nearest the reading start wins."""
    remaining = list(range(len(boxes)))
    order = []
    while remaining:
        top = min(remaining, key=lambda i: boxes[i].y0)
        t = boxes[top]
        band = [i for i in remaining if boxes[i].y0 < t.y1 - 0.25 * (t.y1 - t.y0)]
        pick = (
            min(band, key=lambda i: boxes[i].x0) if direction == LTR else max(band, key=lambda i: boxes[i].x1)
        )
        order.append(pick)
        remaining.remove(pick)
    return order


def _order_lines(boxes: Sequence[Box], idx: list[int]) -> list[int]:
    """Lines inside one balloon: top to bottom, or vertical columns right to left."""
    if all(_is_vertical(boxes[i]) for i in idx) and len(idx) > 0:
        return sorted(idx, key=lambda i: (-boxes[i].x1, boxes[i].y0))
    return sorted(idx, key=lambda i: (boxes[i].y0, boxes[i].x0))


def reading_order(regions: list[Region], panels: list[Box], direction: str) -> list[Region]:
    """Return ``regions`` in reading order, each tagged with ``panel`` and ``balloon`` indexes."""
    if not regions:
        return []
    boxes = [Box.of(r) for r in regions]
    by_panel: dict[int, list[int]] = {}
    for i, b in enumerate(boxes):
        cx, cy = (b.x0 + b.x1) / 2, (b.y0 + b.y1) / 2
        panel = next((p for p, pb in enumerate(panels) if pb.contains_point(cx, cy)), len(panels))
        by_panel.setdefault(panel, []).append(i)
    ordered: list[Region] = []
    balloon_no = 0
    for panel in sorted(by_panel):
        idx = by_panel[panel]
        groups = [[idx[k] for k in g] for g in _group_balloons([boxes[i] for i in idx])]
        group_boxes = []
        for g in groups:
            gb = boxes[g[0]]
            for i in g[1:]:
                gb = gb.union(boxes[i])
            group_boxes.append(gb)
        for gi in _order_boxes(group_boxes, direction):
            for i in _order_lines(boxes, groups[gi]):
                region = regions[i]
                region.extra.update(panel=panel if panel < len(panels) else None, balloon=balloon_no)
                ordered.append(region)
            balloon_no += 1
    return ordered


def drop_implausible(regions: list[Region], width: int, height: int) -> list[Region]:
    """Drop what is almost always art read as text: a lone glyph or two (a head and a stroke
    read as "Q", a wheel as "O") standing taller than 4% of the page's short side. Lettering
    of that size is sound effects, which are words; a lone "?" or "!" in a balloon is small."""
    limit = 0.04 * min(width, height)
    return [r for r in regions if len("".join(r.text.split())) > 2 or min(r.bbox[2], r.bbox[3]) <= limit]


def order_page(image: Image.Image, regions: list[Region], direction: str) -> list[Region]:
    """Drop implausible regions, find the page's panels and put the rest in reading order."""
    regions = drop_implausible(regions, image.width, image.height)
    return reading_order(regions, find_panels(image, direction) if regions else [], direction)
