"""Each engine on generated pages with ground truth: the words, in reading order, and no
invented text on pages with nothing to read. Engines run in-process, one thread, as in a worker."""

from __future__ import annotations

import os

import pytest
from PIL import Image
from rapidfuzz.distance import Levenshtein

from comicocr import layout
from comicocr.engines import load_engine
from comicocr.samples import degrade, make_page

pytestmark = pytest.mark.integration
os.environ.setdefault("OMP_THREAD_LIMIT", "1")


def page_cer(engine_name: str, lang: str, seed: int, variant: str = "clean") -> tuple[float, str, str]:
    engine = load_engine(engine_name, {}, lang, gpu=False)
    image, truth = make_page(seed, lang, 1200, 1800)
    image = degrade(image, variant, seed)
    regions = layout.order_page(image, engine.recognize(image).regions, truth["direction"])
    join = "" if lang == "ja" else " "
    got = join.join("".join(r.text.split()) if lang == "ja" else " ".join(r.text.split()) for r in regions)
    want = join.join(
        line if lang != "ja" else line.replace(" ", "") for line in truth["full_text"].split("\n")
    )
    return Levenshtein.normalized_distance(got, want), got, want


@pytest.mark.parametrize(
    ("engine", "lang", "variant", "limit"),
    [
        ("tesseract", "en", "clean", 0.05),
        ("tesseract", "en", "scan", 0.08),
        ("tesseract", "fr", "clean", 0.05),
        ("tesseract", "ja", "clean", 0.15),
        ("paddleocr", "en", "jpeg", 0.02),
        ("paddleocr", "fr", "scan", 0.03),
        ("paddleocr", "ja", "clean", 0.06),
    ],
)
def test_engine_reads_the_page_in_reading_order(engine: str, lang: str, variant: str, limit: float) -> None:
    cer, got, want = page_cer(engine, lang, seed=900, variant=variant)
    assert cer <= limit, f"CER {cer:.3f}\n got: {got}\nwant: {want}"


@pytest.mark.slow
def test_easyocr_reads_english_offline() -> None:
    cer, got, want = page_cer("easyocr", "en", seed=901)
    assert cer <= 0.15, f"CER {cer:.3f}\n got: {got}\nwant: {want}"


def test_easyocr_without_weights_for_a_language_says_so() -> None:
    from comicocr.errors import PermanentError

    with pytest.raises(PermanentError, match="no offline weights for 'fr'"):
        load_engine("easyocr", {}, "fr", gpu=False)


@pytest.mark.parametrize("engine", ["tesseract", "paddleocr"])
def test_no_invented_text_on_blank_or_art_only_pages(engine: str) -> None:
    reader = load_engine(engine, {}, "en", gpu=False)
    blank = Image.new("RGB", (1200, 1800), "white")
    art, truth = make_page(77, "en", 1200, 1800, lettering=False)
    assert truth["balloons"] == []
    for image in (blank, art, degrade(art, "scan", 77)):
        # What reaches the result: the engine's regions after the layout step.
        assert layout.order_page(image, reader.recognize(image).regions, "ltr") == []
