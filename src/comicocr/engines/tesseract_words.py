"""Which of Tesseract's words to keep: pure logic over ``image_to_data`` output, no Tesseract call.

The tesseract engine reads a page twice over: once with Tesseract's own page layout (good on
typeset and hand-lettered text in open space) and, where that read less than the lettering
finder sees, once per block of lettering (good inside balloons, where frames and art break
the page layout). This module turns both readings into words, decides per block which
reading to believe, and drops what is not text: low-confidence words, runs of punctuation,
lone letters read from hatching, and big letter-like shapes in the art.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from comicocr.contract import Region

# A line of only one-letter words ("i i i", a lone "A") is hatching or art unless Tesseract
# is this sure of it.
LONE_LETTER_CONFIDENCE = 0.9
# A word this many times bigger than the page's lettering, with at most _BIG_WORD_CHARS
# letters, is a shape in the art ("LA" drawn in a wooden sign's grain), not a word.
OUTSIZED = 2.5
_BIG_WORD_CHARS = 3
GAP_LETTERS = 3
HATCHING_LETTERS = 6


@dataclass(frozen=True)
class Word:
    text: str
    confidence: float  # 0..1
    box: tuple[float, float, float, float]  # x0, y0, x1, y1 on the page
    line: tuple[int, ...]  # words with the same key are on one line

    @property
    def letters(self) -> int:
        return sum(ch.isalnum() for ch in self.text)

    @property
    def size(self) -> float:
        """Across the writing direction: the height of a row of letters, the width of a column."""
        return min(self.box[2] - self.box[0], self.box[3] - self.box[1])

    def centre_in(self, x0: float, y0: float, x1: float, y1: float) -> bool:
        cx, cy = (self.box[0] + self.box[2]) / 2, (self.box[1] + self.box[3]) / 2
        return x0 <= cx <= x1 and y0 <= cy <= y1


def words_of(
    data: Mapping[str, Sequence[Any]],
    *,
    scale: float = 1.0,
    offset: tuple[float, float] = (0.0, 0.0),
    line_prefix: tuple[int, ...] = (),
    min_confidence: float = 0.0,
) -> list[Word]:
    """Tesseract's ``image_to_data`` dict -> the plausible words, boxes mapped back to the page
    as ``v / scale + offset``. Plausible: confident enough, and at least a third letters or
    digits (a run of punctuation is speed lines or hatching)."""
    words = []
    for i, raw in enumerate(data["text"]):
        text, confidence = str(raw).strip(), float(data["conf"][i]) / 100
        letters = sum(ch.isalnum() for ch in text)
        if not text or confidence < min_confidence or letters == 0 or letters < len(text) / 3:
            continue
        x0 = data["left"][i] / scale + offset[0]
        y0 = data["top"][i] / scale + offset[1]
        box = (x0, y0, x0 + data["width"][i] / scale, y0 + data["height"][i] / scale)
        key = (*line_prefix, data["block_num"][i], data["par_num"][i], data["line_num"][i])
        words.append(Word(text, confidence, box, key))
    return words


def weight(words: Iterable[Word]) -> float:
    """How much a reading says: its letters, each counted by Tesseract's confidence."""
    return sum(w.letters * w.confidence for w in words)


def drop_outsized(words: list[Word]) -> list[Word]:
    """Drop short words far bigger than the page's lettering (the median word size, counted
    per letter so one big title does not move it)."""
    sizes = sorted(w.size for w in words for _ in range(max(1, w.letters)))
    if not sizes:
        return words
    typical = sizes[len(sizes) // 2]
    return [w for w in words if not (w.size > OUTSIZED * typical and w.letters <= _BIG_WORD_CHARS)]


def to_regions(words: Iterable[Word], joiner: str) -> list[Region]:
    """Words -> one region per line, dropping lines that are only lone letters (see
    LONE_LETTER_CONFIDENCE). For Japanese (``joiner == ""``) Tesseract splits a line into
    single characters, so there a line needs two letters in all. A line is cut where a gap
    is wider than GAP_LETTERS letters: page layout can run one line through two balloons,
    and the reading order must see them apart."""
    lines: dict[tuple[int, ...], list[Word]] = {}
    for word in words:
        lines.setdefault(word.line, []).append(word)
    regions = []
    for line in (part for whole in lines.values() for part in _split_at_gaps(whole)):
        text = joiner.join(w.text for w in line)
        confidence = sum(w.confidence for w in line) / len(line)
        longest = sum(ch.isalnum() for ch in text) if joiner == "" else max(w.letters for w in line)
        if longest < 2 and confidence < LONE_LETTER_CONFIDENCE:
            continue
        if _hatching(text) and confidence < LONE_LETTER_CONFIDENCE:
            continue
        x0, y0 = min(w.box[0] for w in line), min(w.box[1] for w in line)
        x1, y1 = max(w.box[2] for w in line), max(w.box[3] for w in line)
        bbox = (max(0, round(x0)), max(0, round(y0)), max(1, round(x1 - x0)), max(1, round(y1 - y0)))
        regions.append(Region(text, round(confidence, 4), bbox))
    return regions


def _hatching(text: str) -> bool:
    """Rows of strokes read as one letter over and over (リリリリリリ, 月月月月月月, lllll l):
    long, with at most two different letters. Lettered sound effects (Zzzzz, Crrr) are shorter."""
    letters = [ch.casefold() for ch in text if ch.isalnum()]
    return len(letters) >= HATCHING_LETTERS and len(set(letters)) <= 2


def _split_at_gaps(line: list[Word]) -> list[list[Word]]:
    x0, y0 = min(w.box[0] for w in line), min(w.box[1] for w in line)
    x1, y1 = max(w.box[2] for w in line), max(w.box[3] for w in line)
    along = 1 if y1 - y0 > x1 - x0 and len(line) > 1 else 0  # a column runs down the page
    ordered = sorted(line, key=lambda w: w.box[along])
    letter = sorted(w.size for w in line)[len(line) // 2]
    parts = [[ordered[0]]]
    for word in ordered[1:]:
        if word.box[along] - parts[-1][-1].box[along + 2] > GAP_LETTERS * letter:
            parts.append([])
        parts[-1].append(word)
    return parts


_TSV_COLUMNS = ("level", "page_num", "block_num", "par_num", "line_num", "word_num")
_WORD_LEVEL = "5"


def parse_tsv(tsv: str) -> dict[str, list[Any]]:
    """Tesseract's TSV (``GetTSVText``, no header) -> the word rows as ``image_to_data``'s dict."""
    columns = (*_TSV_COLUMNS, "left", "top", "width", "height", "conf", "text")
    out: dict[str, list[Any]] = {name: [] for name in columns}
    for row in tsv.splitlines():
        cells = row.split("\t", len(columns) - 1)
        if len(cells) != len(columns) or cells[0] != _WORD_LEVEL:
            continue
        for name, cell in zip(columns, cells, strict=True):
            out[name].append(cell if name == "text" else float(cell) if name == "conf" else int(cell))
    return out
