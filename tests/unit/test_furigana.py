"""Furigana beside a column with kanji go to a list of their own; other small kana stay text."""

from __future__ import annotations

from comicocr.contract import Region
from comicocr.furigana import split


def r(text: str, x: int, y: int, w: int, h: int) -> Region:
    return Region(text, 0.9, (x, y, w, h))


def test_kana_beside_a_column_with_kanji_are_furigana() -> None:
    column = r("警察にも", 100, 0, 47, 153)
    ruby = r("けいさつ", 148, 2, 22, 70)  # right of the column, half its width
    other = r("先生にも", 40, 0, 41, 148)
    text, furigana = split([column, ruby, other])
    assert text == [column, other]
    assert furigana == [ruby]


def test_kana_above_a_line_stay_text_a_loose_box_makes_the_next_line_look_the_same() -> None:
    line = r("昨日の夜はどうだった", 112, 820, 252, 33)
    above = r("そういえば", 168, 800, 99, 16)
    assert split([line, above]) == ([line, above], [])


def test_not_furigana_a_kana_line_of_text_size_kanji_free_neighbours_far_or_longer_ones() -> None:
    column = r("警察にも", 100, 0, 47, 153)
    cases = [
        [column, r("ねこねこ", 148, 2, 30, 70)],  # more than half the column's size: text
        [r("かわいい", 100, 0, 47, 153), r("ねこ", 148, 2, 22, 40)],  # neighbour has no kanji
        [column, r("ねこ", 190, 2, 22, 40)],  # not against it
        [r("船", 1284, 1308, 51, 60), r("しにスとしにスと", 1336, 1310, 20, 196)],  # longer than the column
        [column, r("OK", 148, 2, 22, 40)],  # not kana
    ]
    for regions in cases:
        assert split(regions) == (regions, []), regions
