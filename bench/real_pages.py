"""Accuracy on real comic pages with exact text, order-free, beside whole-page Tesseract.

    .venv/bin/python bench/real_pages.py --engines tesseract plain-tesseract paddleocr \\
        [--pages DIR] [--langs en fr ja] [--limit N]

DIR holds ``<lang>_*.jpg`` (or .png) pages, each with a ``.txt`` of its exact text (one text
element per line, in no particular order): by default ``../shared/realdev`` (Pepper&Carrot by
David Revoy, www.peppercarrot.com, CC BY 4.0), or ``$COMICOCR_REAL_PAGES``. Scores are bags, as
real truth is not in reading order: bag of words for en/fr (NFKC, casefold, split on
``[^\\w']+``), bag of letters and digits for ja; recall, precision and F1 summed over each
language's pages (micro average). ``plain-tesseract`` is ``pytesseract.image_to_string`` on the
whole page (the seed's approach): the floor the tesseract engine must clear. Each engine runs
as a worker runs it: decode, recognize, reading order.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import re
import resource
import unicodedata
from pathlib import Path
from typing import Any

from comicocr import images, layout
from comicocr.engines import load_engine
from comicocr.engines.tesseract import TESSERACT_LANGS

DEFAULT_DIR = Path(__file__).resolve().parents[2] / "shared" / "realdev"


def cpu_s() -> float:
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def _norm(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def tokens(text: str, lang: str) -> collections.Counter[str]:
    if lang == "ja":
        return collections.Counter(c for c in _norm(text) if unicodedata.category(c)[0] in "LN")
    text = _norm(text).replace("\u2019", "'").replace("\u2018", "'")
    return collections.Counter(w for w in re.split(r"[^\w']+", text) if w.strip("'"))


class Plain:
    """Whole-page Tesseract with its default page segmentation: the baseline."""

    def __init__(self, lang: str) -> None:
        import pytesseract

        self._tess, self.lang = pytesseract, {"ja": "jpn"}.get(lang, TESSERACT_LANGS[lang])

    def read(self, image: Any) -> str:
        return str(self._tess.image_to_string(image, lang=self.lang))


class Pipeline:
    """An engine as a worker runs it: recognize, then reading order."""

    def __init__(self, name: str, lang: str, options: dict[str, Any]) -> None:
        self.engine, self.lang = load_engine(name, options, lang, False), lang

    def read(self, image: Any) -> str:
        regions = self.engine.recognize(image).regions
        if not self.engine.keeps_order:
            regions = layout.order_page(image, regions, layout.default_direction(self.lang))
        return "\n".join(r.text for r in regions)


def pages_of(folder: Path, lang: str, limit: int | None) -> list[tuple[Path, str]]:
    found = sorted(p for p in folder.glob(f"{lang}_*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    return [(p, p.with_suffix(".txt").read_text(encoding="utf-8")) for p in found[:limit]]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--engines", nargs="+", default=["tesseract", "plain-tesseract"])
    parser.add_argument(
        "--pages", type=Path, default=Path(os.environ.get("COMICOCR_REAL_PAGES", DEFAULT_DIR))
    )
    parser.add_argument("--langs", nargs="+", default=["en", "fr", "ja"])
    parser.add_argument("--limit", type=int, default=None, help="at most this many pages per language")
    parser.add_argument("--options", type=json.loads, default={}, help="engine options, JSON")
    parser.add_argument("--show", action="store_true", help="print what each engine read")
    args = parser.parse_args()
    os.environ.setdefault("OMP_THREAD_LIMIT", "1")

    print("| engine | lang | pages | recall | precision | F1 | CPU-s/page |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for lang in args.langs:
        pages = pages_of(args.pages, lang, args.limit)
        if not pages:
            continue
        for name in args.engines:
            reader = Plain(lang) if name == "plain-tesseract" else Pipeline(name, lang, args.options)
            hit = truth_n = pred_n = 0
            started = cpu_s()
            for path, truth in pages:
                image = images.decode(path.read_bytes(), 50_000_000)
                text = reader.read(image)
                t, p = tokens(truth, lang), tokens(text, lang)
                hit, truth_n, pred_n = (
                    hit + sum((t & p).values()),
                    truth_n + sum(t.values()),
                    pred_n + sum(p.values()),
                )
                if args.show:
                    print(f"--- {name} {path.name}\n{text}")
            recall, precision = hit / max(truth_n, 1), hit / max(pred_n, 1)
            f1 = 2 * recall * precision / max(recall + precision, 1e-9)
            per_page = (cpu_s() - started) / len(pages)
            scores = f"{recall:.2f} | {precision:.2f} | {f1:.2f} | {per_page:.1f}"
            print(f"| {name} | {lang} | {len(pages)} | {scores} |")


if __name__ == "__main__":
    main()
