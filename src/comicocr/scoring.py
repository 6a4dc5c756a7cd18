"""Order-free accuracy against real truth: bags of words (bags of characters for Japanese).

Real ground truth is rarely in reading order (a page's text elements come in the order its
letterer made them), so we compare multisets: recall = matched / truth tokens, precision =
matched / read tokens, summed over pages before dividing (micro average). Words: NFKC,
casefold, curly apostrophes made straight, split on ``[^\\w']+``. Japanese: every letter or
digit is a token, since Japanese has no spaces to split on.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from dataclasses import dataclass


def tokens(text: str, lang: str) -> Counter[str]:
    text = unicodedata.normalize("NFKC", text).casefold()
    if lang == "ja":
        return Counter(c for c in text if unicodedata.category(c)[0] in "LN")
    text = text.replace("\u2019", "'").replace("\u2018", "'")
    return Counter(w for w in re.split(r"[^\w']+", text) if w.strip("'"))


@dataclass
class Bag:
    """Matched, truth and read token counts, added up over pages."""

    hit: int = 0
    truth: int = 0
    read: int = 0

    def add(self, truth: str, read: str, lang: str) -> Bag:
        want, got = tokens(truth, lang), tokens(read, lang)
        self.hit += sum((want & got).values())
        self.truth += sum(want.values())
        self.read += sum(got.values())
        return self

    @property
    def recall(self) -> float:
        return self.hit / max(self.truth, 1)

    @property
    def precision(self) -> float:
        return self.hit / max(self.read, 1)

    @property
    def f1(self) -> float:
        return 2 * self.recall * self.precision / max(self.recall + self.precision, 1e-9)
