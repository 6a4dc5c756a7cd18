"""Furigana beside kanji go to a list of their own; other small kana stay text."""

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


def test_kana_above_a_line_with_kanji_are_furigana() -> None:
    line = r("重苦しい闇の奥で", 10, 60, 229, 45)
    ruby = r("おも", 20, 42, 30, 15)
    assert split([line, ruby]) == ([line], [ruby])


def test_not_furigana_a_kana_line_of_text_size_kanji_free_neighbours_far_or_longer_ones() -> None:
    line = r("昨日の夜はどうだった", 112, 820, 252, 33)
    cases = [
        [line, r("そういえば", 168, 794, 99, 20)],  # more than half the line's size: a line of text
        [r("かわいい", 47, 92, 230, 36), r("ねこ", 60, 70, 40, 15)],  # neighbour has no kanji
        [line, r("ねこ", 150, 600, 40, 15)],  # far away
        [r("船", 1284, 1308, 51, 60), r("しにスとしにスと", 1336, 1310, 20, 196)],  # longer than the column
        [line, r("OK", 150, 800, 30, 15)],  # not kana
    ]
    for regions in cases:
        assert split(regions) == (regions, []), regions
