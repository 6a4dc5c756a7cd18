"""The engine contract and its registry.

An engine turns one decoded page into text regions. Engines run inside Lithops
worker processes: they load heavy libraries lazily in ``__init__`` (once per
Lithops call, for a whole chunk of pages), use one thread, and start no pools of
their own; parallelism is the pipeline's job. Only engine *names and options*
travel to workers, never engine objects.

Third parties add an engine through the ``comicocr.engines`` entry-point group::

    [project.entry-points."comicocr.engines"]
    myengine = "mypkg.engine:MyEngine"
"""

from __future__ import annotations

import functools
import os
from dataclasses import asdict, dataclass, field
from importlib.metadata import entry_points
from typing import Any, ClassVar, Protocol

from PIL import Image
from pydantic import BaseModel, ConfigDict, ValidationError

from comicocr.errors import ConfigError, PermanentError

ENTRY_POINT_GROUP = "comicocr.engines"

# Used when the package runs from a source tree without installed metadata.
_BUILTIN = {
    "null": "comicocr.engines.null:NullEngine",
    "tesseract": "comicocr.engines.tesseract:TesseractEngine",
    "paddleocr": "comicocr.engines.paddleocr:PaddleOCREngine",
    "easyocr": "comicocr.engines.easyocr:EasyOCREngine",
    "vlm": "comicocr.engines.vlm:VLMEngine",
    "qwen": "comicocr.engines.vlm:QwenEngine",
    "gemma": "comicocr.engines.vlm:GemmaEngine",
    "deepseek": "comicocr.engines.vlm:DeepSeekEngine",
}


@dataclass
class Region:
    """One line (or word group) of text, in source-image pixels."""

    text: str
    confidence: float  # 0..1
    bbox: tuple[int, int, int, int]  # x, y, w, h
    polygon: list[tuple[int, int]] | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # layout adds panel/balloon here

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["bbox"] = list(self.bbox)
        extra = data.pop("extra")
        if data["polygon"] is None:
            del data["polygon"]
        else:
            data["polygon"] = [list(p) for p in data["polygon"]]
        return {**data, **extra}


class EngineOptions(BaseModel):
    """Base for per-engine options; unknown keys are an error, not silently ignored."""

    model_config = ConfigDict(extra="forbid")


class Engine(Protocol):
    """What every engine provides."""

    name: ClassVar[str]
    languages: ClassVar[tuple[str, ...]]  # ISO 639-1 codes the engine reads offline
    supports_gpu: ClassVar[bool]
    Options: ClassVar[type[EngineOptions]]

    def __init__(self, options: EngineOptions, lang: str, gpu: bool) -> None: ...

    def describe(self) -> dict[str, str]:
        """``{"engine": ..., "version": ..., "model": ...}`` (and ``device`` where it matters)
        for the result file."""
        ...

    def recognize(self, image: Image.Image) -> list[Region]:
        """Read one RGB page; return regions in any order (layout orders them)."""
        ...


@functools.cache
def engine_class(name: str) -> type[Engine]:
    """Look an engine up by name: installed entry points first, then the built-ins."""
    if name.startswith("fault_") and os.environ.get("COMICOCR_FAULT_ENGINES") == "1":
        from comicocr.engines.faults import FAULT_ENGINES

        if name in FAULT_ENGINES:
            return FAULT_ENGINES[name]
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == name:
            return ep.load()  # type: ignore[no-any-return]
    target = _BUILTIN.get(name)
    if target is None:
        raise ConfigError(f"unknown OCR method {name!r}; known: {', '.join(available())}")
    module, _, attr = target.partition(":")
    mod = __import__(module, fromlist=[attr])
    return getattr(mod, attr)  # type: ignore[no-any-return]


def is_paced(name: str) -> bool:
    """Engines that call a rate-limited service (the VLMs) go through the consumer's pacer."""
    try:
        return bool(getattr(engine_class(name), "paced", False))
    except Exception:  # an unknown engine fails in the worker, with its reason
        return False


def available() -> list[str]:
    names = set(_BUILTIN) | {ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)}
    return sorted(names)


def load_engine(name: str, options: dict[str, Any], lang: str, gpu: bool) -> Engine:
    """Build an engine inside a worker; bad options or language are permanent errors."""
    cls = engine_class(name)
    if lang not in cls.languages:
        raise PermanentError(
            f"engine {name!r} does not read language {lang!r} (it reads: {', '.join(cls.languages)})"
        )
    try:
        opts = cls.Options.model_validate(options)
    except ValidationError as exc:
        raise PermanentError(f"bad options for engine {name!r}: {exc.errors()[0]['msg']}") from None
    return cls(opts, lang, gpu)
