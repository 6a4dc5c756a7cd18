"""Synthetic comic pages with ground truth, for the examples, the tests and the benchmarks.

A page is a grid of bordered panels separated by white gutters; each panel holds
a little line art, an optional caption box, and speech balloons (ellipses with a
tail) lettered in ALL CAPS (Comic Neue) or, for ``ja``, in vertical columns read
right to left. The truth file lists the balloons in reading order.

    python -m comicocr.samples OUT_DIR --pages 3 --seed 7 [--lang en|fr|ja]
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageChops, ImageDraw, ImageFilter, ImageFont

FONT_LATIN = "/usr/share/fonts/opentype/comic-neue/ComicNeue-Bold.otf"
FONT_CJK = "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc"

WORDS = {
    "en": "WHERE DID THE CAPTAIN GO WE HAVE TO FIND HIM BEFORE NIGHT FALLS THE CITY IS QUIET TOO QUIET "
    "LOOK OUT BEHIND YOU I KNEW IT WAS A TRAP NOBODY MOVES THIS IS OUR LAST CHANCE HOLD ON TIGHT "
    "MEANWHILE ACROSS TOWN THE ROBOT WOKE UP HUNGRY WHAT A MESS RUN FASTER THEY ARE COMING".split(),
    "fr": "OÙ EST PASSÉ LE CAPITAINE IL FAUT LE TROUVER AVANT LA NUIT LA VILLE EST CALME TROP CALME "
    "ATTENTION DERRIÈRE TOI JE SAVAIS QUE C'ÉTAIT UN PIÈGE PERSONNE NE BOUGE C'EST NOTRE DERNIÈRE "
    "CHANCE TIENS BON PENDANT CE TEMPS LE ROBOT S'EST RÉVEILLÉ AFFAMÉ QUEL DÉSASTRE COURS PLUS VITE".split(),
    "ja": list(
        "どこへ行ったのか船長を探さないと夜になる前に町は静かすぎる後ろに気をつけて罠だと思った最後のチャンスだしっかりつかまれ"
    ),
}


@dataclass
class Balloon:
    lines: list[str]
    box: tuple[int, int, int, int]
    kind: str  # speech or caption


def _font(lang: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(FONT_CJK if lang == "ja" else FONT_LATIN, size)


def _phrase(rng: random.Random, lang: str) -> list[str]:
    """One to three short lines of balloon text."""
    if lang == "ja":
        return [
            "".join(rng.choice(WORDS["ja"]) for _ in range(rng.randint(3, 6)))
            for _ in range(rng.randint(1, 3))
        ]
    lines = []
    for _ in range(rng.randint(1, 3)):
        lines.append(" ".join(rng.choice(WORDS[lang]) for _ in range(rng.randint(2, 3))))
    return lines


def _panels(
    rng: random.Random, width: int, height: int, margin: int, gutter: int
) -> list[tuple[int, int, int, int]]:
    """Rows of one or two panels, top to bottom, each row left to right."""
    rows = rng.randint(2, 3)
    row_h = (height - 2 * margin - (rows - 1) * gutter) // rows
    boxes = []
    for r in range(rows):
        y0 = margin + r * (row_h + gutter)
        cols = rng.randint(1, 2)
        split = rng.uniform(0.4, 0.6) if cols == 2 else 1.0
        x_edges = [
            margin,
            margin + int((width - 2 * margin - gutter) * split) if cols == 2 else width - margin,
        ]
        if cols == 2:
            x_edges += [x_edges[1] + gutter, width - margin]
            boxes += [(x_edges[0], y0, x_edges[1], y0 + row_h), (x_edges[2], y0, x_edges[3], y0 + row_h)]
        else:
            boxes.append((x_edges[0], y0, x_edges[1], y0 + row_h))
    return boxes


def _art(draw: ImageDraw.ImageDraw, rng: random.Random, panel: tuple[int, int, int, int]) -> None:
    """A few strokes in the lower part of the panel: ground line, a figure, hatching."""
    x0, y0, x1, y1 = panel
    ground = y1 - (y1 - y0) // 6
    draw.line((x0, ground, x1, ground), fill="black", width=3)
    cx = rng.randint(x0 + 60, max(x0 + 61, x1 - 60))
    draw.ellipse((cx - 25, ground - 110, cx + 25, ground - 60), outline="black", width=3)
    draw.line((cx, ground - 60, cx, ground - 15), fill="black", width=3)
    for k in range(0, min(200, x1 - x0 - 20), 12):
        draw.line((x0 + 10 + k, y1 - 8, x0 + 30 + k, ground + 8), fill=(90, 90, 90), width=1)


def _letter(
    draw: ImageDraw.ImageDraw,
    lang: str,
    lines: list[str],
    font: ImageFont.FreeTypeFont,
    size: int,
    cx: int,
    cy: int,
) -> tuple[int, int]:
    """Draw ``lines`` centred on (cx, cy); return the text block's (width, height)."""
    if lang == "ja":  # vertical columns, first column on the right
        col_w, n = int(size * 1.3), max(len(s) for s in lines)
        w, h = col_w * len(lines), int(size * 1.1) * n
        for c, line in enumerate(lines):
            x = cx + w // 2 - (c + 1) * col_w + (col_w - size) // 2
            for k, ch in enumerate(line):
                draw.text((x, cy - h // 2 + k * int(size * 1.1)), ch, font=font, fill="black")
        return w, h
    line_h = int(size * 1.25)
    widths = [draw.textlength(s, font=font) for s in lines]
    w, h = int(max(widths)), line_h * len(lines)
    for k, (line, lw) in enumerate(zip(lines, widths, strict=True)):
        draw.text((cx - lw / 2, cy - h / 2 + k * line_h), line, font=font, fill="black")
    return w, h


def make_page(
    seed: int, lang: str = "en", width: int = 1200, height: int = 1800, lettering: bool = True
) -> tuple[Image.Image, dict[str, Any]]:
    """One page and its ground truth (balloons in reading order); ``lettering=False`` draws
    the panels and their art only, with nothing to read."""
    rng = random.Random(seed)
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    size = max(18, width // 42)
    font = _font(lang, size)
    panels = _panels(rng, width, height, margin=width // 30, gutter=width // 40)
    if lang == "ja":  # manga: panels in a row read right to left
        rows: dict[int, list[tuple[int, int, int, int]]] = {}
        for p in panels:
            rows.setdefault(p[1], []).append(p)
        panels = [p for y in sorted(rows) for p in sorted(rows[y], key=lambda b: -b[0])]
    balloons: list[Balloon] = []
    for panel in panels:
        x0, y0, x1, y1 = panel
        draw.rectangle(panel, outline="black", width=4)
        _art(draw, rng, panel)
        top = y0 + 12
        if not lettering:
            continue
        if rng.random() < 0.35:  # caption box in the reading-start corner
            lines = _phrase(rng, lang)[:1]
            tw, th = _letter(ImageDraw.Draw(Image.new("RGB", (1, 1))), lang, lines, font, size, 0, 0)
            bx0 = x0 + 12 if lang != "ja" else x1 - 12 - tw - 24
            box = (bx0, top, bx0 + tw + 24, top + th + 16)
            draw.rectangle(box, fill=(255, 245, 190), outline="black", width=2)
            _letter(draw, lang, lines, font, size, (box[0] + box[2]) // 2, (box[1] + box[3]) // 2)
            balloons.append(Balloon(lines, box, "caption"))
            top = box[3] + 10
        n = rng.randint(1, 2)
        slot_w = (x1 - x0) // n
        for k in range(n):
            lines = _phrase(rng, lang)
            tw, th = _letter(ImageDraw.Draw(Image.new("RGB", (1, 1))), lang, lines, font, size, 0, 0)
            bw, bh = int(tw * 1.3) + 30, int(th * 1.5) + 24
            slot = k if lang != "ja" else n - 1 - k  # reading order across the panel
            sx0 = x0 + slot * slot_w
            if bw > slot_w - 16 or top + bh > y1 - (y1 - y0) // 3:
                continue  # does not fit: leave the panel to its art
            bx = sx0 + rng.randint(8, max(8, slot_w - bw - 8))
            by = top + k * 12
            box = (bx, by, bx + bw, by + bh)
            tail_x = (box[0] + box[2]) // 2
            draw.polygon(
                [(tail_x - 12, box[3] - 6), (tail_x + 12, box[3] - 6), (tail_x + 4, box[3] + 30)],
                fill="white",
                outline="black",
            )
            draw.ellipse(box, fill="white", outline="black", width=3)
            _letter(draw, lang, lines, font, size, (box[0] + box[2]) // 2, (box[1] + box[3]) // 2)
            balloons.append(Balloon(lines, box, "speech"))
    truth = {
        "lang": lang,
        "direction": "rtl" if lang == "ja" else "ltr",
        "balloons": [{"lines": b.lines, "bbox": list(b.box), "kind": b.kind} for b in balloons],
        "full_text": "\n".join(line for b in balloons for line in b.lines),
    }
    return image, truth


VARIANTS = ("clean", "jpeg", "scan")


def degrade(image: Image.Image, variant: str, seed: int = 0) -> Image.Image:
    """A page as it reaches OCR in the wild: ``jpeg`` (quality 35 artefacts) or ``scan``
    (yellowed paper, a slight skew, blur and grain). ``clean`` returns it unchanged."""
    if variant == "clean":
        return image
    if variant == "jpeg":
        buf = io.BytesIO()
        image.save(buf, "JPEG", quality=35)
        return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
    if variant != "scan":
        raise ValueError(f"unknown variant {variant!r}; known: {', '.join(VARIANTS)}")
    rng = random.Random(seed)
    paper = Image.new("RGB", image.size, (238, 228, 205))
    scanned = ImageChops.multiply(image, paper)
    skew = rng.uniform(-0.8, 0.8)
    scanned = scanned.rotate(skew, resample=Image.Resampling.BICUBIC, fillcolor=(238, 228, 205))
    scanned = scanned.filter(ImageFilter.GaussianBlur(0.8))
    grain = np.random.default_rng(seed).normal(0, 10, (image.height, image.width, 1))
    return Image.fromarray(np.clip(np.asarray(scanned, dtype=np.float32) + grain, 0, 255).astype(np.uint8))


def write_pages(
    out: Path, pages: int, seed: int, lang: str = "en", width: int = 1200, height: int = 1800
) -> Path:
    """Write pages, their truth files and a manifest; return the manifest path."""
    out.mkdir(parents=True, exist_ok=True)
    manifest = out / "manifest.csv"
    with manifest.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["canonical_id", "absolute_image_path"])
        for i in range(pages):
            name = f"page_{i + 1:03d}"
            image, truth = make_page(seed * 1000 + i, lang, width, height)
            image.save(out / f"{name}.png", optimize=True)
            (out / f"{name}.truth.json").write_text(json.dumps(truth, ensure_ascii=False, indent=1))
            writer.writerow([f"{lang}/{name}", f"{name}.png"])
    return manifest


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("out", type=Path)
    parser.add_argument("--pages", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--lang", default="en", choices=sorted(WORDS))
    parser.add_argument("--width", type=int, default=1200)
    parser.add_argument("--height", type=int, default=1800)
    args = parser.parse_args()
    print(write_pages(args.out, args.pages, args.seed, args.lang, args.width, args.height))


if __name__ == "__main__":
    main()
