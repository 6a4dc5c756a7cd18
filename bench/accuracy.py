"""Accuracy of each engine on generated comic pages with ground truth.

    .venv/bin/python bench/accuracy.py --engines tesseract paddleocr --pages 10 --lang en

Prints, per engine: page CER in reading order (whitespace-normalised), line recall (truth lines
found with CER <= 0.2 in some region), CPU-s per page, and peak RSS of this process.
"""

from __future__ import annotations

import argparse
import resource

from rapidfuzz.distance import Levenshtein

from comicocr import layout
from comicocr.engines import load_engine
from comicocr.samples import make_page


def cpu_s() -> float:
    """CPU seconds of this process and its children (Tesseract runs as a child process)."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def norm(text: str) -> str:
    return " ".join(text.split())


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--engines", nargs="+", default=["tesseract"])
    parser.add_argument("--pages", type=int, default=10)
    parser.add_argument("--lang", default="en")
    parser.add_argument("--seed", type=int, default=1000)
    parser.add_argument("--width", type=int, default=1200)
    parser.add_argument("--height", type=int, default=1800)
    parser.add_argument("--show", action="store_true", help="print pages whose CER > 0")
    args = parser.parse_args()
    pages = [make_page(args.seed + i, args.lang, args.width, args.height) for i in range(args.pages)]
    print(
        f"{'engine':<12}{'lang':<6}{'pages':>6}{'page CER':>10}{'line recall':>13}"
        f"{'CPU-s/page':>12}{'peak RSS MB':>13}"
    )
    for name in args.engines:
        engine = load_engine(name, {}, args.lang, gpu=False)
        errors = chars = 0
        found = total = 0
        cpu = 0.0
        for image, truth in pages:
            started = cpu_s()
            regions = layout.order_page(image, engine.recognize(image), truth["direction"])
            cpu += cpu_s() - started
            got = "\n".join(r.text for r in regions)
            want = truth["full_text"]
            dist = Levenshtein.distance(norm(got), norm(want))
            errors += dist
            chars += len(norm(want))
            lines = [norm(line) for b in truth["balloons"] for line in b["lines"]]
            texts = [norm(r.text) for r in regions]
            total += len(lines)
            found += sum(
                any(Levenshtein.normalized_distance(line, t) <= 0.2 for t in texts) for line in lines
            )
            if args.show and dist:
                print(f"--- CER {dist / max(1, len(norm(want))):.3f}\n got: {norm(got)}\nwant: {norm(want)}")
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(
            f"{name:<12}{args.lang:<6}{len(pages):>6}"
            f"{errors / max(chars, 1):>10.3f}{found / max(total, 1):>13.3f}"
            f"{cpu / len(pages):>12.2f}{rss:>13.0f}"
        )


if __name__ == "__main__":
    main()
