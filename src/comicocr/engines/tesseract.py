"""Tesseract through pytesseract (Debian's tesseract-ocr 5.x with eng/fra/jpn data).

Tesseract's own page layout finds almost nothing on a comic page (frames and
balloons break it), yet it reads a cropped balloon well. So by default we find
the lettering first (textblocks.py) and hand Tesseract one block at a time as a
uniform block of text (``--psm 6``, or ``5`` for vertical Japanese).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from PIL import Image, ImageOps
from pydantic import Field

from comicocr.contract import Region
from comicocr.engines.base import Engine, EngineOptions, Recognition, require_modules
from comicocr.engines.textblocks import find_text_blocks
from comicocr.errors import ConfigError

# Tesseract's language packs by our language codes; manga text is vertical.
TESSERACT_LANGS = {"en": "eng", "fr": "fra", "ja": "jpn_vert"}
_PAD = 10
_GLYPH_PX = 32


class TesseractOptions(EngineOptions):
    detect_blocks: bool = Field(True, description="find lettering first, then read each block")
    psm: int | None = Field(None, ge=0, le=13, description="page segmentation mode override")
    min_confidence: float = Field(0.4, ge=0, le=1, description="drop words below this")
    config: str = Field("", max_length=200, pattern=r"^[\w\s=.\-]*$", description="extra tesseract flags")


class TesseractEngine(Engine[TesseractOptions]):
    name: ClassVar[str] = "tesseract"
    languages: ClassVar[tuple[str, ...]] = tuple(TESSERACT_LANGS)
    Options: ClassVar[type[EngineOptions]] = TesseractOptions

    @classmethod
    def check_ready(cls, options: TesseractOptions, lang: str) -> None:
        require_modules(cls.name, "pytesseract", fix="pip install 'comicocr[tesseract]' (scripts/setup does)")
        import pytesseract

        try:
            have = set(pytesseract.get_languages(config=""))
        except (pytesseract.TesseractNotFoundError, OSError):
            raise ConfigError(
                "the tesseract program is not on PATH: apt-get install tesseract-ocr (scripts/setup does)"
            ) from None
        if TESSERACT_LANGS[lang] not in have:
            pack = "tesseract-ocr-" + TESSERACT_LANGS[lang].replace("_", "-")
            raise ConfigError(
                f"tesseract has no {TESSERACT_LANGS[lang]!r} language data: apt-get install {pack}"
            )

    def __init__(self, options: TesseractOptions, lang: str, gpu: bool) -> None:
        super().__init__(options, lang, gpu)
        import pytesseract  # OMP_THREAD_LIMIT=1 is set by the worker (worker.py)

        self._tess = pytesseract
        self.tess_lang = TESSERACT_LANGS[lang]
        self.vertical = lang == "ja"

    def describe(self) -> dict[str, str]:
        return {
            "engine": self.name,
            "version": str(self._tess.get_tesseract_version()),
            "model": self.tess_lang,
        }

    def recognize(self, image: Image.Image) -> Recognition:
        gray = image.convert("L")
        if not self.options.detect_blocks:
            return Recognition(
                self._read(gray, 0, 0, self.options.psm if self.options.psm is not None else 11)
            )
        psm = self.options.psm if self.options.psm is not None else (5 if self.vertical else 6)
        regions: list[Region] = []
        blocks, cleaned = find_text_blocks(np.asarray(gray), vertical=self.vertical)
        page = Image.fromarray(cleaned)
        for block in blocks:
            crop = page.crop((block.x, block.y, block.x + block.w, block.y + block.h))
            # Tesseract reads best with glyphs ~30 px tall; small lettering is scaled up.
            scale = min(4.0, max(1.0, _GLYPH_PX / max(block.glyph_size, 1.0)))
            if scale > 1.0:
                size = (round(crop.width * scale), round(crop.height * scale))
                crop = crop.resize(size, Image.Resampling.LANCZOS)
            crop = ImageOps.expand(crop, border=_PAD, fill=255)  # Tesseract wants a margin
            regions += self._read(crop, block.x, block.y, psm, scale)
        return Recognition(regions)

    def _read(self, gray: Image.Image, dx: int, dy: int, psm: int, scale: float = 1.0) -> list[Region]:
        """Read ``gray``; boxes map back to the page as ``(v - pad) / scale + offset``."""
        pad = _PAD if self.options.detect_blocks else 0
        data: dict[str, list[Any]] = self._tess.image_to_data(
            gray,
            lang=self.tess_lang,
            config=f"--psm {psm} {self.options.config}".strip(),
            output_type=self._tess.Output.DICT,
        )
        lines: dict[tuple[int, int, int], list[int]] = {}
        for i, word in enumerate(data["text"]):
            if word.strip() and float(data["conf"][i]) >= self.options.min_confidence * 100:
                lines.setdefault((data["block_num"][i], data["par_num"][i], data["line_num"][i]), []).append(
                    i
                )
        regions = []
        joiner = "" if self.lang == "ja" else " "
        for idx in lines.values():
            text = joiner.join(data["text"][i].strip() for i in idx)
            if not any(ch.isalnum() for ch in text):
                continue  # hatching and speed lines read as punctuation
            x0 = min(data["left"][i] for i in idx)
            y0 = min(data["top"][i] for i in idx)
            x1 = max(data["left"][i] + data["width"][i] for i in idx)
            y1 = max(data["top"][i] + data["height"][i] for i in idx)
            conf = sum(float(data["conf"][i]) for i in idx) / len(idx) / 100
            bx, by = round((x0 - pad) / scale) + dx, round((y0 - pad) / scale) + dy
            bbox = (max(0, bx), max(0, by), round((x1 - x0) / scale), round((y1 - y0) / scale))
            regions.append(Region(text, round(conf, 4), bbox))
        return regions
