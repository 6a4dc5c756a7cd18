"""Accuracy on real comic pages with exact text, order-free, beside whole-page Tesseract.

    .venv/bin/python bench/real_pages.py --engines tesseract plain-tesseract paddleocr \\
        [--pages DIR] [--langs en fr ja] [--kinds page small grey strip spread] [--limit N]

DIR holds ``<lang>_*.jpg`` (or .png) images, each with a ``.txt`` of its exact text (one text
element per line, in no particular order): by default ``../shared/realdev`` (Pepper&Carrot by
David Revoy, www.peppercarrot.com, CC BY 4.0), or ``$COMICOCR_REAL_PAGES``. A folder of balloon
crops (``ja_crop01.jpg`` + ``.txt``) works the same way. Scores are bags (comicocr.scoring), as
real truth is not in reading order; recall and precision are summed over each language's
images (micro average). ``plain-tesseract`` is ``pytesseract.image_to_string`` on the whole
image (the seed's approach): the floor the tesseract engine must clear. Each engine runs as a
worker runs it: recognize, reading order.

Kinds are the shapes users send, made from the same pages: ``page`` as is; ``small`` at 45%
(lettering ~8 px); ``grey`` as an 8-bit grey scan; ``strip`` five pages stacked into one
webtoon-like strip (1240 x ~8700); ``spread`` two pages side by side (2480 wide).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from PIL import Image

from comicocr import furigana, images, layout
from comicocr.engines import load_engine
from comicocr.engines.tesseract import TESSERACT_LANGS
from comicocr.scoring import Bag

DEFAULT_DIR = Path(__file__).resolve().parents[2] / "shared" / "realdev"
Item = tuple[Image.Image, str]


def cpu_s() -> float:
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


class Plain:
    """Whole-page Tesseract with its default page segmentation: the baseline."""

    def __init__(self, lang: str) -> None:
        import pytesseract

        self._tess, self.lang = pytesseract, TESSERACT_LANGS[lang]

    def read(self, image: Any) -> str:
        # A copy has no format: pytesseract hands Tesseract a lossless PNG of these pixels,
        # not the JPEG re-encoding it makes of an image opened from a JPEG.
        return str(self._tess.image_to_string(image.copy(), lang=self.lang))


class Pipeline:
    """An engine as a worker runs it: recognize, then reading order."""

    def __init__(self, name: str, lang: str, options: dict[str, Any]) -> None:
        self.engine, self.lang = load_engine(name, options, lang, False), lang

    def read(self, image: Any) -> str:
        regions = self.engine.recognize(image).regions
        if not self.engine.keeps_order:
            regions = layout.order_page(image, regions, layout.default_direction(self.lang))
            if self.lang == "ja":  # as the worker does: furigana go to a list of their own
                regions = furigana.split(regions)[0]
        return "\n".join(r.text for r in regions)


def pages_of(folder: Path, lang: str, limit: int | None) -> list[Item]:
    found = sorted(p for p in folder.glob(f"{lang}_*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    return [
        (images.decode(p.read_bytes(), 50_000_000), p.with_suffix(".txt").read_text(encoding="utf-8"))
        for p in found[:limit]
    ]


def _small(pages: list[Item]) -> Iterator[Item]:
    for image, text in pages:
        size = (round(image.width * 0.45), round(image.height * 0.45))
        yield image.resize(size, Image.Resampling.LANCZOS), text


def _grey(pages: list[Item]) -> Iterator[Item]:
    for image, text in pages:
        yield image.convert("L").convert("RGB"), text


def _joined(group: list[Item], across: bool) -> Item:
    width = sum(i.width for i, _ in group) if across else max(i.width for i, _ in group)
    height = max(i.height for i, _ in group) if across else sum(i.height for i, _ in group)
    joined, at = Image.new("RGB", (width, height), "white"), 0
    for image, _ in group:
        joined.paste(image, (at, 0) if across else (0, at))
        at += image.width if across else image.height
    return joined, "\n".join(text for _, text in group)


def _strip(pages: list[Item]) -> Iterator[Item]:
    for start in range(0, len(pages) - 4, 5):
        yield _joined(pages[start : start + 5], across=False)


def _spread(pages: list[Item]) -> Iterator[Item]:
    for start in range(0, len(pages) - 1, 2):
        yield _joined(pages[start : start + 2], across=True)


KINDS: dict[str, Callable[[list[Item]], Iterator[Item]]] = {
    "page": iter,
    "small": _small,
    "grey": _grey,
    "strip": _strip,
    "spread": _spread,
}


def table(
    engines: list[str],
    folder: Path,
    langs: list[str],
    kinds: list[str],
    limit: int | None = None,
    options: dict[str, Any] | None = None,
    show: bool = False,
) -> None:
    """Print one Markdown row per engine x language x kind."""
    print("| engine | lang | kind | images | recall | precision | F1 | CPU-s/image |")
    print("|---|---|---|---:|---:|---:|---:|---:|")
    for lang in langs:
        pages = pages_of(folder, lang, limit)
        if not pages:
            continue
        for name in engines:
            reader = Plain(lang) if name == "plain-tesseract" else Pipeline(name, lang, options or {})
            for kind in kinds:
                items, bag, started = list(KINDS[kind](pages)), Bag(), cpu_s()
                for image, truth in items:
                    text = reader.read(image)
                    bag.add(truth, text, lang)
                    if show:
                        print(f"--- {name} {kind}\n{text}")
                if items:
                    per = (cpu_s() - started) / len(items)
                    scores = f"{bag.recall:.2f} | {bag.precision:.2f} | {bag.f1:.2f} | {per:.1f}"
                    print(f"| {name} | {lang} | {kind} | {len(items)} | {scores} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--engines", nargs="+", default=["tesseract", "plain-tesseract"])
    parser.add_argument(
        "--pages", type=Path, default=Path(os.environ.get("COMICOCR_REAL_PAGES", DEFAULT_DIR))
    )
    parser.add_argument("--langs", nargs="+", default=["en", "fr", "ja"])
    parser.add_argument("--kinds", nargs="+", default=["page"], choices=list(KINDS))
    parser.add_argument("--limit", type=int, default=None, help="at most this many pages per language")
    parser.add_argument("--options", type=json.loads, default={}, help="engine options, JSON")
    parser.add_argument("--show", action="store_true", help="print what each engine read")
    args = parser.parse_args()
    os.environ.setdefault("OMP_THREAD_LIMIT", "1")
    table(args.engines, args.pages, args.langs, args.kinds, args.limit, args.options, args.show)


if __name__ == "__main__":
    main()
