"""Find blocks of lettering on a comic page with OpenCV, before any recognition.

Whole-page layout analysis (Tesseract's) fails on comics: panel frames, balloon
outlines and art break its column finding, and it returns little or nothing. Text
on a comic page is, however, easy to find by shape: rows of glyph-sized ink blobs
sitting close together. We keep the connected components whose size fits a glyph,
smear them along the writing direction so a line's glyphs join, then across it so
a balloon's lines join, and return the resulting blocks for a recogniser to read
one at a time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Block:
    x: int
    y: int
    w: int
    h: int
    glyph_size: float  # the page's glyph height (horizontal text) or width (vertical)


def find_text_blocks(gray: np.ndarray, vertical: bool = False) -> tuple[list[Block], np.ndarray]:
    """Blocks of glyph-like components in a grayscale page (uint8, dark ink on light paper),
    and a copy of the page with every larger-than-glyph component (balloon outlines, panel
    frames, long art strokes) painted out, so that a recogniser reading a block's crop sees
    letters and punctuation only."""
    import cv2

    height, width = gray.shape
    # A 3x3 median removes JPEG ringing and scanner grain without eroding strokes.
    ink = (cv2.medianBlur(gray, 3) < 140).astype(np.uint8)
    count, labels, stats, centroids = cv2.connectedComponentsWithStats(ink, connectivity=8)
    if count <= 1:
        return [], gray
    _xs, _ys, ws, hs, areas = (stats[1:, i] for i in range(5))
    page = min(height, width)
    # A glyph is between ~0.4% and ~6% of the page's short side, not a long thin stroke
    # (frames, hatching, speed lines) and not a hollow outline (balloons, panel borders).
    # On a small image (a balloon crop, a strip of one row) lettering is a larger share of
    # the short side: allow glyphs up to 48 px tall there, at most half the short side.
    max_h = max(0.06 * page, min(48.0, page / 2))
    max_w = max(0.08 * page, min(64.0, page / 2))
    fill = areas / np.maximum(ws * hs, 1)
    is_glyph = (
        (hs >= max(6, 0.004 * page))
        & (hs <= max_h)
        & (ws <= max_w)
        & (ws >= 1)
        & (fill >= 0.08)
        & (np.maximum(ws, hs) <= 12 * np.maximum(np.minimum(ws, hs), 2))
    )
    too_big = (hs > max_h) | (ws > max_w)
    cleaned = gray.copy()
    cleaned[np.isin(labels, np.flatnonzero(too_big) + 1)] = 255
    keep = np.flatnonzero(is_glyph) + 1
    if keep.size == 0:
        return [], cleaned
    mask = np.isin(labels, keep).astype(np.uint8)
    sizes = ws[keep - 1] if vertical else hs[keep - 1]
    # The upper quartile, not the median: punctuation and leftover specks are small, and
    # on a noisy page they can outnumber the letters.
    glyph = float(np.percentile(sizes, 75))
    along, across = max(3, int(glyph * 1.0)), max(3, int(glyph * 0.9))
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (across, along) if vertical else (along, across))
    joined = cv2.dilate(mask, kernel)
    _n, _, bstats, _ = cv2.connectedComponentsWithStats(joined, connectivity=8)
    blocks = []
    for x, y, w, h, _area in bstats[1:]:
        # undo the dilation's growth, keeping half a glyph of margin: an excluded thin glyph
        # ("I", "!") at a line's end must not be cut off
        pad_x, pad_y = (across // 2, along // 2) if vertical else (along // 2, across // 2)
        margin = int(glyph * 0.5)
        x0, y0 = max(0, x + pad_x - margin), max(0, y + pad_y - margin)
        x1, y1 = min(width, x + w - pad_x + margin), min(height, y + h - pad_y + margin)
        if x1 - x0 < glyph * 0.8 or y1 - y0 < glyph * 0.8:
            continue  # a lone dot or speck
        inside = [k for k in keep if x0 <= centroids[k][0] <= x1 and y0 <= centroids[k][1] <= y1]
        size_of = ws if vertical else hs
        if len(inside) == 1 and size_of[inside[0] - 1] > 1.5 * glyph:
            continue  # one shape, bigger than the lettering: a head, a wheel, a bolt of art
        blocks.append(Block(int(x0), int(y0), int(x1 - x0), int(y1 - y0), glyph))
    return blocks, cleaned
