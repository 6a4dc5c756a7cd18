"""Furigana through a worker with a real engine: kept out of full_text, in the result's own list."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont

from comicocr.contract import Chunk, ChunkSpec, Done, EngineSpec, PageJob
from comicocr.worker import run_chunk

pytestmark = pytest.mark.integration
os.environ.setdefault("OMP_THREAD_LIMIT", "1")
FONT = "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc"


def column(draw: ImageDraw.ImageDraw, text: str, x: int, y: int, size: int) -> None:
    font = ImageFont.truetype(FONT, size)
    for n, ch in enumerate(text):
        draw.text((x, y + n * int(size * 1.1)), ch, font=font, fill="black")


def test_furigana_beside_a_column_are_kept_apart(tmp_path: Path) -> None:
    page = Image.new("RGB", (400, 500), "white")
    draw = ImageDraw.Draw(page)
    column(draw, "警察官", 200, 60, 56)  # the text: a vertical column of kanji
    column(draw, "けいさつかん", 262, 64, 24)  # its reading, half size, against its right side
    page.save(tmp_path / "p.png")
    spec = ChunkSpec(
        EngineSpec("paddleocr", "ja"), str(tmp_path / "out"), None, True, 10**7, 10**8, (), False
    )
    (outcome,) = run_chunk(Chunk(spec, (PageJob("0", "ruby", str(tmp_path / "p.png")),)))
    assert isinstance(outcome, Done), outcome
    result = json.loads((tmp_path / "out" / "ruby_ocr.json").read_text())
    assert "警察" in result["full_text"]
    assert "けい" not in result["full_text"]
    assert "けい" in "".join(r["text"] for r in result["furigana"])
