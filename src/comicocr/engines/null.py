"""The null engine: reads nothing. The template for new engines and the benchmark baseline."""

from __future__ import annotations

from typing import ClassVar

from PIL import Image

from comicocr import __version__
from comicocr.engines.base import EngineOptions, Region


class NullOptions(EngineOptions):
    pass


class NullEngine:
    name: ClassVar[str] = "null"
    languages: ClassVar[tuple[str, ...]] = ("en", "fr", "ja")
    supports_gpu: ClassVar[bool] = False
    Options: ClassVar[type[EngineOptions]] = NullOptions

    def __init__(self, options: EngineOptions, lang: str, gpu: bool) -> None:
        self.lang = lang

    def describe(self) -> dict[str, str]:
        return {"engine": self.name, "version": __version__, "model": "none"}

    def recognize(self, image: Image.Image) -> list[Region]:
        return []
