"""Furigana: the small kana printed beside kanji to give their reading, kept apart from the text.

Manga print furigana to the right of a vertical column at about half the size of the text. An
engine reads them as lines of their own, and in reading order they land between the words they
annotate: 警察にも + けいさつ + 先生にも + せんせい. So for Japanese we take them out of
``text_regions``/``full_text`` and keep them in the result's ``furigana`` list (nothing read is
thrown away). A region is furigana when it is all kana, at most FURIGANA_SIZE of the size of a
neighbouring column that holds a kanji, no longer than it, and runs down right against its
right side. Furigana over horizontal lines are left in the text: there a loose line box makes a
balloon's next line look the same.
"""

from __future__ import annotations

from comicocr.contract import Region

TOUCHING = 0.5  # the gap to the column, in furigana sizes: closer than columns of text are
FURIGANA_SIZE = 0.5  # furigana are half the text's size or less; a smaller balloon's text is not this small


def _size(r: Region) -> int:
    return min(r.bbox[2], r.bbox[3])  # across the writing direction


def _is_kana(text: str) -> bool:
    letters = [ch for ch in text if ch.isalnum() or ch == "ー"]
    return bool(letters) and all("\u3040" <= ch <= "\u30ff" for ch in letters)


def _has_kanji(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf" for ch in text)


def _beside(small: Region, big: Region) -> bool:
    sx, sy, sw, sh = small.bbox
    bx, by, bw, bh = big.bbox
    gap = TOUCHING * _size(small)
    if bh <= bw or sh <= sw:
        # Lines: a short kana line right above a line with kanji is as often the balloon's
        # next line read with a loose box (measured on Pepper&Carrot) as furigana. Left as text.
        return False
    overlaps = sy < by + bh and by < sy + sh  # a column: furigana run down its right side
    return overlaps and sh <= bh and abs(sx - (bx + bw)) <= gap


def split(regions: list[Region]) -> tuple[list[Region], list[Region]]:
    """(text regions, furigana), each in the order given."""
    furigana = {
        i
        for i, small in enumerate(regions)
        if _is_kana(small.text)
        and any(
            j != i
            and _has_kanji(big.text)
            and _size(small) <= FURIGANA_SIZE * _size(big)
            and _beside(small, big)
            for j, big in enumerate(regions)
        )
    }
    return (
        [r for i, r in enumerate(regions) if i not in furigana],
        [r for i, r in enumerate(regions) if i in furigana],
    )
