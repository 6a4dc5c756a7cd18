"""Tesseract 5, in-process through tesserocr, with Debian's eng/fra/jpn/jpn_vert language data.

Two readings, each good where the other fails. Tesseract's own page layout reads typeset and
hand-lettered text in open space well, and it is what a plain ``pytesseract`` call does; but
panel frames, balloon outlines and art break it, and it misses whole balloons. Handed one
balloon's lettering at a time (found by shape, textblocks.py), Tesseract reads it well.

So we read the whole page with page layout first, then every block of lettering on its own,
and keep per block whichever reading says more (letters weighted by confidence): the result
is never less than the page layout found. Small lettering is scaled up to the ~30 px
Tesseract reads best; an image too small to be a page (one balloon, one caption) is read as a
single block. Japanese blocks taller than wide are also read as vertical columns
(``jpn_vert``). tesseract_words.py decides which words to keep.

tesserocr keeps one Tesseract per language data for the engine's life: a page has dozens of
blocks, and starting the ``tesseract`` program for each (pytesseract) costs 20x the reading.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from PIL import Image, ImageOps
from pydantic import Field

from comicocr.engines.base import Engine, EngineOptions, Recognition, require_modules
from comicocr.engines.tesseract_words import Word, drop_outsized, parse_tsv, to_regions, weight, words_of
from comicocr.engines.textblocks import Block, find_text_blocks
from comicocr.errors import ConfigError

# Tesseract's language data by our language codes: for the page, and for vertical columns.
TESSERACT_LANGS = {"en": "eng", "fr": "fra", "ja": "jpn"}
VERTICAL_LANGS = {"ja": "jpn_vert"}
# Where Debian (5.x, 4.x), Alpine/Fedora and source builds put the language data.
TESSDATA_DIRS = (
    "/usr/share/tesseract-ocr/5/tessdata",
    "/usr/share/tesseract-ocr/4.00/tessdata",
    "/usr/share/tessdata",
    "/usr/local/share/tessdata",
)
_PAD = 10  # Tesseract wants a white margin round a crop
_GLYPH_PX = 32  # the letter height Tesseract reads best
_SMALL_GLYPH_PX = 12  # page lettering below this is scaled up for the page-layout reading
_MAX_UPSCALE_PIXELS = 60_000_000
# An image this small (short side, long side) is one balloon or caption, not a page.
_SMALL_IMAGE, _SMALL_IMAGE_LONG_SIDE = 400, 3000
_OPEN_SPACE_CONFIDENCE = 0.5
_MAX_BLOCK_PIXELS = 16_000_000  # a block scaled up for reading stays under this
_BLOCK_PSM, _VERTICAL_PSM = 6, 5  # one uniform block of text; of vertical columns
_ROWS_OVER_COLUMNS = 1.25


def tessdata_dir(lang_data: tuple[str, ...]) -> Path:
    """The folder holding ``<name>.traineddata`` for each of ``lang_data``: $TESSDATA_PREFIX if
    set, else the first usual place that has them all. ConfigError naming the fix if none."""
    prefix = os.environ.get("TESSDATA_PREFIX")
    places = [Path(prefix)] if prefix else [Path(p) for p in TESSDATA_DIRS]
    for place in places:
        if all((place / f"{name}.traineddata").is_file() for name in lang_data):
            return place
    missing = " ".join("tesseract-ocr-" + name.replace("_", "-") for name in lang_data)
    where = (
        f"$TESSDATA_PREFIX ({prefix})" if prefix else "the usual places (" + ", ".join(TESSDATA_DIRS) + ")"
    )
    raise ConfigError(
        f"tesseract language data {', '.join(lang_data)} not found in {where}: apt-get install {missing}"
    )


class TesseractOptions(EngineOptions):
    detect_blocks: bool = Field(
        True, description="also read each block of lettering on its own (balloons page layout misses)"
    )
    psm: int = Field(3, ge=0, le=13, description="page segmentation mode of the whole-page reading")
    min_confidence: float = Field(0.3, ge=0, le=1, description="drop page-layout words below this")
    block_min_confidence: float = Field(
        0.75, ge=0, le=1, description="drop words read in a lone block below this (no page context)"
    )


class TesseractEngine(Engine[TesseractOptions]):
    name: ClassVar[str] = "tesseract"
    languages: ClassVar[tuple[str, ...]] = tuple(TESSERACT_LANGS)
    Options: ClassVar[type[EngineOptions]] = TesseractOptions

    @classmethod
    def lang_data(cls, lang: str) -> tuple[str, ...]:
        return tuple(filter(None, (TESSERACT_LANGS[lang], VERTICAL_LANGS.get(lang))))

    @classmethod
    def check_ready(cls, options: TesseractOptions, lang: str) -> None:
        require_modules(cls.name, "tesserocr", fix="pip install 'comicocr[tesseract]' (scripts/setup does)")
        tessdata_dir(cls.lang_data(lang))

    def __init__(self, options: TesseractOptions, lang: str, gpu: bool) -> None:
        super().__init__(options, lang, gpu)
        import tesserocr  # OMP_THREAD_LIMIT=1 is set by the worker (worker.py)

        self._tesserocr = tesserocr
        self._data_dir = str(tessdata_dir(self.lang_data(lang)))
        self._apis: dict[str, Any] = {}  # language data -> its PyTessBaseAPI, loaded on first use
        self.tess_lang = TESSERACT_LANGS[lang]
        self.vertical_lang = VERTICAL_LANGS.get(lang)
        self.joiner = "" if lang == "ja" else " "

    def describe(self) -> dict[str, str]:
        first_line = self._tesserocr.tesseract_version().splitlines()[0]
        return {
            "engine": self.name,
            "version": first_line.removeprefix("tesseract").strip(),
            "model": "+".join(self.lang_data(self.lang)),
        }

    def recognize(self, image: Image.Image) -> Recognition:
        gray = image.convert("L")
        blocks, cleaned = find_text_blocks(np.asarray(gray))
        glyph = blocks[0].glyph_size if blocks else float(_GLYPH_PX)
        words = self._read_page(image, glyph)
        if self.options.detect_blocks:
            block_confidence = self.options.block_min_confidence
            if min(image.size) < _SMALL_IMAGE and max(image.size) <= _SMALL_IMAGE_LONG_SIDE:
                # One balloon or caption: the whole image is the block, and the sender's word
                # that it is text stands in for the page context a found block lacks.
                blocks, cleaned = [Block(0, 0, image.width, image.height, glyph)], np.asarray(gray)
                block_confidence = self.options.min_confidence
            # Outside every block of lettering, an unsure word is mostly hatching or texture.
            words = [w for w in words if w.confidence >= _OPEN_SPACE_CONFIDENCE or _in_any(w, blocks)]
            words = self._read_blocks(Image.fromarray(cleaned), blocks, words, block_confidence)
        return Recognition(to_regions(drop_outsized(words), self.joiner))

    def _read_page(self, image: Image.Image, glyph: float) -> list[Word]:
        """Tesseract's page layout on the colour page (its own binarisation does better than
        our grey), scaled up first when the lettering is small."""
        scale = 1.0
        if glyph < _SMALL_GLYPH_PX:
            room = (_MAX_UPSCALE_PIXELS / (image.width * image.height)) ** 0.5
            scale = max(1.0, min(3.0, _GLYPH_PX / glyph, room))
        if scale > 1.0:
            size = (round(image.width * scale), round(image.height * scale))
            image = image.resize(size, Image.Resampling.LANCZOS)
        data = self._data(image, self.tess_lang, self.options.psm)
        return words_of(data, scale=scale, min_confidence=self.options.min_confidence)

    def _read_blocks(
        self, page: Image.Image, blocks: list[Block], page_words: list[Word], min_confidence: float
    ) -> list[Word]:
        """Read each block on its own; keep whichever reading of it weighs more."""
        kept, chosen = list(page_words), []
        for n, block in enumerate(blocks):
            x1, y1 = block.x + block.w, block.y + block.h
            inside = [w for w in kept if w.centre_in(block.x, block.y, x1, y1)]
            read = self._read_block(page, block, n, min_confidence)
            if weight(read) > weight(inside):
                kept = [w for w in kept if w not in inside]
                chosen += read
        return kept + chosen

    def _read_block(self, page: Image.Image, block: Block, n: int, min_confidence: float) -> list[Word]:
        crop = page.crop((block.x, block.y, block.x + block.w, block.y + block.h))
        room = (_MAX_BLOCK_PIXELS / max(1, crop.width * crop.height)) ** 0.5
        scale = max(1.0, min(4.0, room, _GLYPH_PX / max(block.glyph_size, 1.0)))
        if scale > 1.0:
            size = (round(crop.width * scale), round(crop.height * scale))
            crop = crop.resize(size, Image.Resampling.LANCZOS)
        crop = ImageOps.expand(crop, border=_PAD, fill=255)
        at = (block.x - _PAD / scale, block.y - _PAD / scale)

        def reading(lang: str, psm: int) -> list[Word]:
            return words_of(
                self._data(crop, lang, psm),
                scale=scale,
                offset=at,
                line_prefix=(-1, n, psm),  # apart from the page reading's lines and each other's
                min_confidence=min_confidence,
            )

        rows = reading(self.tess_lang, _BLOCK_PSM)
        if not (self.vertical_lang and block.h > block.w):
            return rows
        # Square CJK glyphs read as rows give the same characters as read as columns, with
        # about the same confidence, but in the wrong order: a block taller than wide is
        # columns unless the rows reading says clearly more.
        columns = reading(self.vertical_lang, _VERTICAL_PSM)
        return rows if weight(rows) > _ROWS_OVER_COLUMNS * weight(columns) else columns

    def _data(self, image: Image.Image, lang: str, psm: int) -> dict[str, list[Any]]:
        api = self._apis.get(lang)
        if api is None:
            api = self._apis[lang] = self._tesserocr.PyTessBaseAPI(path=self._data_dir, lang=lang)
        api.SetPageSegMode(psm)
        api.SetImage(image)
        api.Recognize()
        return parse_tsv(api.GetTSVText(0))


def _in_any(word: Word, blocks: list[Block]) -> bool:
    return any(word.centre_in(b.x, b.y, b.x + b.w, b.y + b.h) for b in blocks)
