"""Read images of any shape with a detector that wants a bounded size: scale, tile, merge.

Text detectors resize their input to a fixed budget (PaddleOCR: at most 4000 px on the long
side). A 1240x20000 webtoon strip shrunk to 4000 px tall has lettering too small to find,
and a 200 px balloon crop has lettering too small to read. So small images are scaled up
first, and images longer than the budget are cut into overlapping tiles: each tile is read at
full resolution, its boxes moved back into the page, and a line seen twice across a seam
(or cut by one tile's edge and whole in the next) is kept once.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from comicocr.contract import Region

TILE = 3000  # px along each side of a tile: under PaddleOCR's 4000 px limit
OVERLAP = 400  # px shared by neighbouring tiles: more than the tallest line we expect to keep whole
SMALL_SIDE = 1000  # an image whose short side is below this is scaled up to it...
MAX_UPSCALE = 3.0  # ...by at most this much,
MAX_UPSCALED_PIXELS = 25_000_000  # and never past this many pixels (a thin 300x20000 strip)


@dataclass(frozen=True)
class Tile:
    x0: int
    y0: int
    x1: int
    y1: int

    def inner_edges(self, width: int, height: int) -> tuple[bool, bool, bool, bool]:
        """Which sides (left, top, right, bottom) cut through the image, not along its border."""
        return self.x0 > 0, self.y0 > 0, self.x1 < width, self.y1 < height


def upscale_factor(width: int, height: int) -> float:
    room = float((MAX_UPSCALED_PIXELS / max(1, width * height)) ** 0.5)
    return max(1.0, min(MAX_UPSCALE, room, SMALL_SIDE / max(1, min(width, height))))


def _starts(length: int) -> list[int]:
    if length <= TILE:
        return [0]
    step = TILE - OVERLAP
    starts = list(range(0, length - TILE, step))
    return [*starts, length - TILE]


def tiles(width: int, height: int) -> list[Tile]:
    """Overlapping tiles covering the image, row by row; one tile when it fits."""
    return [
        Tile(x, y, min(width, x + TILE), min(height, y + TILE))
        for y in _starts(height)
        for x in _starts(width)
    ]


def shift(region: Region, dx: int, dy: int, scale: float = 1.0) -> Region:
    """A tile's region in page coordinates: ``(v + offset) / scale``."""
    x, y, w, h = region.bbox
    polygon = None
    if region.polygon is not None:
        polygon = [(round((px + dx) / scale), round((py + dy) / scale)) for px, py in region.polygon]
    bbox = (
        round((x + dx) / scale),
        round((y + dy) / scale),
        max(1, round(w / scale)),
        max(1, round(h / scale)),
    )
    return Region(region.text, region.confidence, bbox, polygon)


def _touches(region: Region, tile: Tile, width: int, height: int, margin: int = 2) -> bool:
    """Does the region (tile coordinates) touch a side of the tile that cuts the image?"""
    x, y, w, h = region.bbox
    left, top, right, bottom = tile.inner_edges(width, height)
    tw, th = tile.x1 - tile.x0, tile.y1 - tile.y0
    return (
        (left and x <= margin)
        or (top and y <= margin)
        or (right and x + w >= tw - margin)
        or (bottom and y + h >= th - margin)
    )


def _overlap_share(a: Region, b: Region) -> float:
    """Intersection over the smaller box's area."""
    ax, ay, aw, ah = a.bbox
    bx, by, bw, bh = b.bbox
    ix = max(0, min(ax + aw, bx + bw) - max(ax, bx))
    iy = max(0, min(ay + ah, by + bh) - max(ay, by))
    return ix * iy / max(1, min(aw * ah, bw * bh))


def merge(read: Iterable[tuple[Tile, list[Region]]], width: int, height: int) -> list[Region]:
    """Regions of every tile (tile coordinates) -> page regions, each line once.

    Where two tiles saw the same line, the one not cut by a tile edge wins, then the larger,
    then the surer; a line cut in every tile that saw it is still kept, once."""
    candidates = []
    for n, (tile, regions) in enumerate(read):
        for region in regions:
            cut = _touches(region, tile, width, height)
            page = shift(region, tile.x0, tile.y0)
            candidates.append((cut, -page.bbox[2] * page.bbox[3], -page.confidence, n, page))
    candidates.sort(key=lambda c: c[:3])
    kept: list[tuple[int, Region]] = []
    for *_, n, region in candidates:
        # Lines of one tile never repeat each other; only another tile's reading can.
        if all(m == n or _overlap_share(region, other) < 0.5 for m, other in kept):
            kept.append((n, region))
    return [region for _, region in kept]
