"""The null engine: reads nothing. The template for new engines and the benchmark baseline."""

from __future__ import annotations

from typing import ClassVar

from PIL import Image

from comicocr import __version__
from comicocr.engines.base import Engine, EngineOptions, Recognition


class NullOptions(EngineOptions):
    pass


class NullEngine(Engine[NullOptions]):
    name: ClassVar[str] = "null"
    languages: ClassVar[tuple[str, ...]] = ("en", "fr", "ja")
    Options: ClassVar[type[EngineOptions]] = NullOptions

    def describe(self) -> dict[str, str]:
        return {"engine": self.name, "version": __version__, "model": "none"}

    def recognize(self, image: Image.Image) -> Recognition:
        return Recognition([])
