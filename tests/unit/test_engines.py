import pytest

from comicocr.engines import available, engine_class, load_engine
from comicocr.errors import ConfigError, PermanentError


def test_builtin_engines_are_registered() -> None:
    assert {"null", "tesseract", "paddleocr", "easyocr"} <= set(available())
    assert engine_class("null").name == "null"


def test_unknown_engine_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown OCR method 'nope'"):
        engine_class("nope")


def test_bad_options_and_language_are_permanent() -> None:
    with pytest.raises(PermanentError, match="bad options"):
        load_engine("null", {"surprise": 1}, "en", gpu=False)
    with pytest.raises(PermanentError, match="does not read language 'de'"):
        load_engine("null", {}, "de", gpu=False)
