"""Which of Tesseract's words the tesseract engine keeps (pure logic, no Tesseract call)."""

from __future__ import annotations

from typing import Any

from comicocr.engines.tesseract_words import Word, drop_outsized, to_regions, weight, words_of


def data(*words: tuple[str, float, tuple[int, int, int, int], int]) -> dict[str, list[Any]]:
    """An image_to_data dict: (text, conf 0-100, (left, top, width, height), line)."""
    out: dict[str, list[Any]] = {k: [] for k in ("text", "conf", "left", "top", "width", "height")}
    out |= {"block_num": [], "par_num": [], "line_num": []}
    for text, conf, (left, top, width, height), line in words:
        for key, value in zip(
            ("text", "conf", "left", "top", "width", "height", "block_num", "par_num", "line_num"),
            (text, conf, left, top, width, height, 1, 1, line),
            strict=True,
        ):
            out[key].append(value)
    return out


def word(text: str, conf: float = 0.9, box: tuple[float, ...] = (0, 0, 30, 20), line: int = 1) -> Word:
    return Word(text, conf, (box[0], box[1], box[2], box[3]), (line,))


def test_words_are_mapped_back_to_the_page_and_empty_punctuation_and_unsure_ones_dropped() -> None:
    d = data(
        ("HELLO", 91, (20, 40, 100, 30), 1),
        ("", -1, (0, 0, 5, 5), 1),
        ("—.-", 95, (130, 40, 30, 30), 1),  # speed lines
        ("ok", 20, (200, 40, 30, 30), 1),  # below min_confidence
        ("(Ko*)", 80, (0, 100, 50, 30), 2),  # mostly letters: kept
    )
    got = words_of(d, scale=2.0, offset=(100, 10), line_prefix=(7,), min_confidence=0.3)
    assert [w.text for w in got] == ["HELLO", "(Ko*)"]
    assert got[0].box == (110.0, 30.0, 160.0, 45.0)
    assert got[0].confidence == 0.91
    assert got[0].line == (7, 1, 1, 1)


def test_a_line_of_lone_letters_is_art_unless_tesseract_is_sure() -> None:
    regions = to_regions(
        [
            word("i", 0.6, line=1),
            word("i", 0.7, line=1),
            word("A", 0.95, line=2),  # sure: a lone "A" can be a word
            word("I", 0.5, line=3),
            word("I", 0.8, (0, 40, 10, 60), line=4),
            word("know", 0.8, (15, 40, 60, 60), line=4),
        ],
        " ",
    )
    assert [r.text for r in regions] == ["A", "I know"]
    assert regions[1].bbox == (0, 40, 60, 20)
    assert regions[1].confidence == 0.8


def test_japanese_lines_need_two_characters_in_all_as_tesseract_splits_them() -> None:
    regions = to_regions([word("続", 0.8), word("く", 0.8), word("の", 0.5, line=2)], "")
    assert [r.text for r in regions] == ["続く"]


def test_short_words_far_taller_than_the_lettering_are_art() -> None:
    lettering = [
        word(w, box=(i * 40, 0, i * 40 + 35, 20)) for i, w in enumerate("we went to the market".split())
    ]
    sign = word("LA", 0.87, (0, 200, 100, 300))
    title = word("CHAPTER", 0.9, (0, 400, 300, 480))  # long: a title, not a shape
    kept = drop_outsized([*lettering, sign, title])
    assert sign not in kept
    assert title in kept
    assert len(kept) == len(lettering) + 1
    assert drop_outsized([]) == []


def test_a_reading_weighs_its_letters_by_confidence() -> None:
    assert weight([word("abc", 0.5), word("d!", 1.0)]) == 2.5
    assert weight([]) == 0


def test_a_short_column_of_vertical_text_is_not_outsized() -> None:
    chars = [word("あ", box=(0, i * 30, 25, i * 30 + 25)) for i in range(10)]
    column = word("ぎま", box=(100, 0, 125, 100))  # tall, but as wide as the lettering
    assert column in drop_outsized([*chars, column])


def test_a_line_run_through_two_balloons_is_cut_at_the_gap() -> None:
    regions = to_regions(
        [
            word("BOUGE", box=(400, 120, 520, 146)),
            word("QUEL", box=(537, 120, 630, 146)),
            word("CHANCE", box=(1138, 118, 1280, 146)),  # another balloon, same Tesseract line
        ],
        " ",
    )
    assert [r.text for r in regions] == ["BOUGE QUEL", "CHANCE"]
    column = to_regions([word("続", box=(0, 0, 25, 25)), word("く", box=(0, 30, 25, 55))], "")
    assert [r.text for r in column] == ["続く"]


def test_strokes_read_as_one_letter_over_and_over_are_hatching() -> None:
    hatching = [word("リリ", 0.8, (0, 0, 20, 10), line=1), word("リリリリ", 0.7, (25, 0, 60, 10), line=1)]
    sfx = [word("Zzzzz", 0.8, (0, 40, 80, 60), line=2)]  # a lettered sound effect: short, kept
    assert [r.text for r in to_regions([*hatching, *sfx], " ")] == ["Zzzzz"]
