from importlib.metadata import entry_points

import pytest

from comicocr.engines import Engine, available, engine_class, load_engine
from comicocr.engines.base import ENTRY_POINT_GROUP
from comicocr.errors import ConfigError, PermanentError

BUILT_IN = {"null", "tesseract", "paddleocr", "easyocr", "vlm", "qwen", "gemma", "deepseek"}


def test_builtin_engines_are_registered_entry_points() -> None:
    # The installed package metadata is the only registry: an engine missing from
    # pyproject's entry points cannot be asked for, and this fails.
    registered = {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}
    assert set(registered) >= BUILT_IN
    for name in BUILT_IN:
        cls = engine_class(name)
        assert issubclass(cls, Engine)
        assert cls.name == name
    assert set(available()) >= BUILT_IN


def test_capabilities_are_declared_on_the_class() -> None:
    assert (engine_class("qwen").paced, engine_class("qwen").keeps_order) == (True, True)
    assert (engine_class("null").paced, engine_class("null").keeps_order) == (False, False)
    assert engine_class("paddleocr").supports_gpu
    assert not engine_class("tesseract").supports_gpu


def test_unknown_engine_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown OCR method 'nope'"):
        engine_class("nope")


def test_fault_engines_exist_only_when_enabled(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COMICOCR_FAULT_ENGINES", raising=False)
    assert "fault_crash" not in available()
    monkeypatch.setenv("COMICOCR_FAULT_ENGINES", "1")
    assert "fault_crash" in available()


def test_bad_options_and_language_are_permanent() -> None:
    with pytest.raises(PermanentError, match="bad options"):
        load_engine("null", {"surprise": 1}, "en", gpu=False)
    with pytest.raises(PermanentError, match="does not read language 'de'"):
        load_engine("null", {}, "de", gpu=False)
