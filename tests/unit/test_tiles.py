"""Scaling and tiling images for a size-bounded detector, and merging lines across seams."""

from __future__ import annotations

import itertools

from comicocr.contract import Region
from comicocr.engines import tiles
from comicocr.engines.tiles import Tile


def test_an_image_that_fits_is_one_tile_and_a_strip_is_overlapping_tiles() -> None:
    assert tiles.tiles(1240, 1751) == [Tile(0, 0, 1240, 1751)]
    strip = tiles.tiles(1240, 8755)
    assert strip[0] == Tile(0, 0, 1240, tiles.TILE)
    assert strip[-1].y1 == 8755
    for above, below in itertools.pairwise(strip):
        assert above.y1 - below.y0 >= tiles.OVERLAP  # every line shorter than this is whole in one
        assert below.x0 == 0
    assert all(t.y1 - t.y0 <= tiles.TILE for t in strip)
    grid = tiles.tiles(9000, 9000)  # big both ways: a grid
    assert {(t.x0, t.y0) for t in grid} >= {(0, 0), (9000 - tiles.TILE, 9000 - tiles.TILE)}


def test_small_images_are_scaled_up_within_a_cap() -> None:
    assert tiles.upscale_factor(1240, 1751) == 1.0
    assert tiles.upscale_factor(500, 800) == 2.0
    assert tiles.upscale_factor(60, 100) == tiles.MAX_UPSCALE


def line(text: str, x: int, y: int, w: int = 200, h: int = 30, conf: float = 0.9) -> Region:
    return Region(text, conf, (x, y, w, h), [(x, y), (x + w, y), (x + w, y + h), (x, y + h)])


def test_a_line_in_the_overlap_is_kept_once_and_a_cut_line_gives_way_to_the_whole_one() -> None:
    top, bottom = Tile(0, 0, 1000, 3000), Tile(0, 2600, 1000, 5000)
    merged = tiles.merge(
        [
            (top, [line("ABOVE", 10, 100), line("SEEN TWICE", 10, 2700), line("CU", 10, 2985, h=15)]),
            # the same lines in the lower tile's coordinates (y - 2600)
            (
                bottom,
                [line("SEEN TWICE", 12, 100, conf=0.8), line("CUT LINE", 10, 385), line("BELOW", 10, 2000)],
            ),
        ],
        1000,
        5000,
    )
    assert sorted(r.text for r in merged) == ["ABOVE", "BELOW", "CUT LINE", "SEEN TWICE"]
    twice = next(r for r in merged if r.text == "SEEN TWICE")
    assert twice.bbox == (10, 2700, 200, 30)  # the surer reading, in page coordinates
    below = next(r for r in merged if r.text == "BELOW")
    assert below.bbox == (10, 4600, 200, 30)
    assert below.polygon is not None
    assert below.polygon[0] == (10, 4600)


def test_a_line_cut_in_every_tile_is_still_kept_once() -> None:
    top, bottom = Tile(0, 0, 1000, 3000), Tile(0, 2600, 1000, 5000)
    huge = [(top, [line("BO", 10, 2500, h=500)]), (bottom, [line("OOM", 10, 0, h=500)])]
    assert [r.text for r in tiles.merge(huge, 1000, 5000)] == ["BO"]  # the larger half


def test_lines_of_one_tile_never_merge_with_each_other() -> None:
    tile = Tile(0, 0, 1000, 3000)
    close = [line("ONE", 10, 100), line("TWO", 10, 110)]  # overlapping boxes, one tile
    assert len(tiles.merge([(tile, close), (Tile(0, 2600, 1000, 5000), [])], 1000, 5000)) == 2


def test_regions_read_on_an_upscaled_image_map_back() -> None:
    r = tiles.shift(line("HI", 300, 600, 90, 30), 0, 0, scale=3.0)
    assert r.bbox == (100, 200, 30, 10)
    assert r.polygon == [(100, 200), (130, 200), (130, 210), (100, 210)]


def test_a_thin_long_strip_is_not_scaled_past_the_pixel_cap() -> None:
    factor = tiles.upscale_factor(300, 20000)
    assert 300 * 20000 * factor**2 <= tiles.MAX_UPSCALED_PIXELS * 1.0001
