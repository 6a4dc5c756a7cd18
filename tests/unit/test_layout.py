"""Reading order: panels from gutters, lines into balloons, balloons ordered by direction."""

import itertools

from comicocr.contract import Region
from comicocr.layout import LTR, RTL, Box, find_panels, reading_order
from comicocr.samples import make_page


def region(text: str, x: int, y: int, w: int = 100, h: int = 20) -> Region:
    return Region(text, 0.9, (x, y, w, h))


def test_panels_found_from_gutters_in_reading_order() -> None:
    image, _ = make_page(seed=5, width=900, height=1350)
    panels = find_panels(image, LTR)
    assert len(panels) >= 2
    # Rows top to bottom; within a row left to right.
    for a, b in itertools.pairwise(panels):
        assert a.y0 < b.y0 - 5 or (abs(a.y0 - b.y0) <= 5 and a.x0 < b.x0)
    rtl = find_panels(image, RTL)
    assert sorted(rtl, key=lambda p: (p.y0, p.x0)) == sorted(panels, key=lambda p: (p.y0, p.x0))


def test_blank_page_has_no_panels() -> None:
    from PIL import Image

    assert find_panels(Image.new("RGB", (300, 400), "white")) == []


def test_two_panels_side_by_side_read_panel_by_panel() -> None:
    panels = [Box(0, 0, 500, 500), Box(520, 0, 1000, 500)]
    # Engines list lines top to bottom across the page, interleaving the two panels.
    regions = [region("L1", 50, 50), region("R1", 600, 60), region("L2", 50, 75), region("R2", 600, 85)]
    ordered = reading_order(regions, panels, LTR)
    assert [r.text for r in ordered] == ["L1", "L2", "R1", "R2"]
    assert [r.extra["panel"] for r in ordered] == [0, 0, 1, 1]
    assert ordered[0].extra["balloon"] == ordered[1].extra["balloon"] != ordered[2].extra["balloon"]


def test_balloons_side_by_side_follow_direction() -> None:
    panels = [Box(0, 0, 1000, 1000)]
    regions = [region("right", 700, 100), region("left", 100, 110)]
    assert [r.text for r in reading_order(regions, panels, LTR)] == ["left", "right"]
    regions = [region("right", 700, 100), region("left", 100, 110)]
    assert [r.text for r in reading_order(regions, panels, RTL)] == ["right", "left"]


def test_vertical_columns_read_right_to_left() -> None:
    panels = [Box(0, 0, 1000, 1000)]
    cols = [Region(t, 0.9, (x, 100, 30, 200)) for t, x in (("c2", 400), ("c1", 440), ("c3", 360))]
    assert [r.text for r in reading_order(cols, panels, RTL)] == ["c1", "c2", "c3"]
