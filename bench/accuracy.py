"""Accuracy of each engine on generated comic pages and on real ones, as Markdown tables.

    .venv/bin/python bench/accuracy.py --engines tesseract paddleocr --langs en fr ja \\
        --variants clean jpeg scan --pages 6 [--real DIR] [--real-kinds page small strip]

Real pages (second table, order-free bag scores, beside whole-page ``plain-tesseract``): see
real_pages.py; by default ``../shared/realdev`` when it is there, ``--real ''`` skips them.

Columns, per engine x language x variant (pages made by comicocr.samples, never seen by the
engines' authors): page CER in reading order (whitespace-normalised, against the truth's
balloon order), in-balloon CER (each truth balloon against the regions whose centre lies
inside it), line recall (truth lines found with CER <= 0.2 in some region), CPU-s per page
(this process and its children: Tesseract runs as a child), and peak RSS.
Engines run in this process, one thread each (OMP_THREAD_LIMIT=1), as in a Lithops worker.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
from pathlib import Path
from typing import Any

import real_pages  # bench/ is on sys.path when this file runs as a script
from rapidfuzz.distance import Levenshtein

from comicocr import layout
from comicocr.engines import Region, load_engine
from comicocr.samples import VARIANTS, degrade, make_page


def cpu_s() -> float:
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def norm(text: str, lang: str) -> str:
    # Japanese has no spaces between words; elsewhere line breaks are layout, not text.
    return "".join(text.split()) if lang == "ja" else " ".join(text.split())


def in_balloon_errors(regions: list[Region], truth: dict[str, Any], lang: str) -> tuple[int, int]:
    errors = chars = 0
    for balloon in truth["balloons"]:
        x0, y0, x1, y1 = balloon["bbox"]
        inside = [
            r.text
            for r in regions
            if x0 <= r.bbox[0] + r.bbox[2] / 2 <= x1 and y0 <= r.bbox[1] + r.bbox[3] / 2 <= y1
        ]
        want = norm(" ".join(balloon["lines"]), lang)
        errors += Levenshtein.distance(norm(" ".join(inside), lang), want)
        chars += len(want)
    return errors, chars


def score(engine: Any, pages: list[tuple[Any, dict[str, Any]]], lang: str, show: bool) -> dict[str, float]:
    totals = dict.fromkeys(("page_err", "page_chars", "bal_err", "bal_chars", "found", "lines", "cpu"), 0.0)
    for image, truth in pages:
        started = cpu_s()
        regions = layout.order_page(image, engine.recognize(image).regions, truth["direction"])
        totals["cpu"] += cpu_s() - started
        got, want = norm("\n".join(r.text for r in regions), lang), norm(truth["full_text"], lang)
        dist = Levenshtein.distance(got, want)
        totals["page_err"] += dist
        totals["page_chars"] += len(want)
        err, chars = in_balloon_errors(regions, truth, lang)
        totals["bal_err"] += err
        totals["bal_chars"] += chars
        texts = [norm(r.text, lang) for r in regions]
        lines = [norm(line, lang) for b in truth["balloons"] for line in b["lines"]]
        totals["lines"] += len(lines)
        totals["found"] += sum(
            any(Levenshtein.normalized_distance(ln, t) <= 0.2 for t in texts) for ln in lines
        )
        if show and dist:
            print(f"<!-- CER {dist / max(1, len(want)):.3f}\n got: {got}\nwant: {want} -->")
    return {
        "page_cer": totals["page_err"] / max(totals["page_chars"], 1),
        "balloon_cer": totals["bal_err"] / max(totals["bal_chars"], 1),
        "recall": totals["found"] / max(totals["lines"], 1),
        "cpu": totals["cpu"] / len(pages),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--engines", nargs="+", default=["tesseract", "paddleocr"])
    parser.add_argument("--langs", nargs="+", default=["en", "fr", "ja"])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    parser.add_argument("--pages", type=int, default=6)
    parser.add_argument("--seed", type=int, default=5000)
    parser.add_argument("--width", type=int, default=1600)
    parser.add_argument("--height", type=int, default=2400)
    parser.add_argument("--options", type=json.loads, default={}, help="engine options, JSON")
    parser.add_argument("--show", action="store_true", help="print each page read with errors")
    parser.add_argument("--real", default=str(real_pages.DEFAULT_DIR), help="folder of real pages ('' skips)")
    parser.add_argument("--real-kinds", nargs="+", default=["page"], choices=list(real_pages.KINDS))
    args = parser.parse_args()
    os.environ.setdefault("OMP_THREAD_LIMIT", "1")
    print(
        "| engine | lang | variant | pages | page CER | in-balloon CER | line recall | CPU-s/page"
        " | peak RSS MB (process so far) |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for name in args.engines:
        for lang in args.langs:
            try:
                engine = load_engine(name, args.options, lang, gpu=False)
            except Exception as exc:  # an engine that does not read this language
                print(f"| {name} | {lang} | - | - | {type(exc).__name__}: {str(exc)[:60]} | | | | |")
                continue
            for variant in args.variants:
                pages = []
                for i in range(args.pages):
                    image, truth = make_page(args.seed + i, lang, args.width, args.height)
                    pages.append((degrade(image, variant, args.seed + i), truth))
                s = score(engine, pages, lang, args.show)
                rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
                print(
                    f"| {name} | {lang} | {variant} | {len(pages)} | {s['page_cer']:.3f} "
                    f"| {s['balloon_cer']:.3f} | {s['recall']:.3f} | {s['cpu']:.2f} | {rss:.0f} |",
                    flush=True,
                )
    if args.real and Path(args.real).is_dir():
        print()
        engines = [*args.engines, *(["plain-tesseract"] if "tesseract" in args.engines else [])]
        real_pages.table(engines, Path(args.real), args.langs, args.real_kinds, options=args.options)


if __name__ == "__main__":
    main()
