"""Run by runtimes/build inside each image it builds, read-only and without a network, as the
cloud runs it: Python and Lithops match the client's, what the backend starts imports, and
every engine loads its baked-in models and reads a line of text offline.

    python3 - KIND ENGINES LITHOPS_VERSION PYTHON_MINOR < check_image.py
    KIND: aws_lambda | k8s | aws_ec2_gpu;  ENGINES: tesseract,paddleocr

Prints one line per check; exits non-zero on the first failure, with the reason.
"""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path
from types import SimpleNamespace


def ok(what: str) -> None:
    print(f"check_image: ok: {what}", flush=True)


def fail(what: str) -> None:
    sys.exit(f"check_image: FAILED: {what}")


def check_versions(lithops_version: str, python_minor: str) -> None:
    import lithops

    here = f"{sys.version_info.major}.{sys.version_info.minor}"
    if here != python_minor:
        fail(f"Python {here} in the image, {python_minor} on the client: Lithops refuses the mismatch")
    if lithops.__version__ != lithops_version:
        fail(f"Lithops {lithops.__version__} in the image, {lithops_version} on the client")
    ok(f"Python {here}, Lithops {lithops.__version__} (from {Path(lithops.__file__).parent})")


def check_backend(kind: str) -> None:
    """What the backend runs in the image: its entry point imports, and answers a metadata call."""
    if kind == "aws_lambda":
        # awslambdaric imports handler.entry_point from the working directory (/function)
        import awslambdaric  # noqa: F401
        from handler.entry_point import lambda_handler  # type: ignore[import-not-found]

        meta = lambda_handler({"get_metadata": {}}, SimpleNamespace(aws_request_id="check-image"))
        ok(f"Lambda's handler handler.entry_point.lambda_handler answers ({meta['lithops_version']})")
    elif kind == "k8s":
        sys.path.insert(0, "/lithops")
        import lithopsentry  # type: ignore[import-not-found]  # noqa: F401
        from lithops.worker.utils import get_runtime_metadata

        get_runtime_metadata()
        ok(f"k8s entry point /lithops/lithopsentry.py imports, as uid {os.getuid()}")
    elif kind == "aws_ec2_gpu":
        import lithops.standalone.runner
        import lithops.standalone.worker  # noqa: F401  (flask, gevent, redis)
        import onnxruntime

        providers = onnxruntime.get_available_providers()
        if "CUDAExecutionProvider" not in providers:
            fail(f"onnxruntime has no CUDA provider: {providers}")
        cuda_lib = Path(onnxruntime.__file__).parent / "capi" / "libonnxruntime_providers_cuda.so"
        ldd = subprocess.run(["ldd", str(cuda_lib)], capture_output=True, text=True, check=True).stdout
        # libcuda comes from the host's driver, through `docker run --gpus all`
        missing = [line.split()[0] for line in ldd.splitlines() if "not found" in line]
        missing = [name for name in missing if not name.startswith("libcuda.so")]
        if missing:
            fail(f"the CUDA provider cannot find {', '.join(missing)}")
        # ... and what it opens by name at run time, from the CUDA wheels
        import ctypes

        for name in ("libcudnn.so.9", "libcufft.so.12", "libcublasLt.so.13", "libcudart.so.13"):
            try:
                ctypes.CDLL(name)
            except OSError as exc:
                fail(f"the CUDA provider would not open {name}: {exc}")
        ok("standalone worker imports; onnxruntime's CUDA provider finds every CUDA library but the driver's")
    else:
        fail(f"unknown kind {kind!r}")


def text_image() -> object:
    from PIL import Image, ImageDraw, ImageFont

    image = Image.new("RGB", (640, 160), "white")
    ImageDraw.Draw(image).text((30, 45), "HELLO WORLD", fill="black", font=ImageFont.load_default(56))
    return image


def check_engines(engines: list[str]) -> None:
    from comicocr.engines import engine_class, load_engine

    for name in engines:
        cls = engine_class(name)
        options = cls.Options.model_validate({})
        for lang in cls.languages:
            cls.check_ready(options, lang)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            engine = load_engine(name, {}, "en", gpu=False)
            text = " ".join(r.text for r in engine.recognize(text_image()).regions)  # type: ignore[arg-type]
        if "HELLO" not in text.upper():
            fail(f"{name} read {text!r} instead of 'HELLO WORLD'")
        ok(f"{name} ready for {', '.join(cls.languages)}; read {text!r} offline ({engine.describe()})")


def main() -> None:
    kind, engines, lithops_version, python_minor = sys.argv[1:5]
    check_versions(lithops_version, python_minor)
    check_backend(kind)
    check_engines(engines.split(","))


if __name__ == "__main__":
    main()
