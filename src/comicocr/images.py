"""Decode page images defensively: every way a file can be bad becomes a PermanentError."""

from __future__ import annotations

import io
import warnings

import numpy as np
from PIL import Image, UnidentifiedImageError

from comicocr.contract import MAX_IMAGE_PIXELS
from comicocr.errors import PermanentError

MAX_SIDE = 20_000


def decode(data: bytes, max_pixels: int = MAX_IMAGE_PIXELS, max_side: int = MAX_SIDE) -> Image.Image:
    """Bytes -> fully loaded RGB image, or PermanentError saying what is wrong.

    Pillow's own bomb guard warns at MAX_IMAGE_PIXELS and raises at twice that; we set
    it on purpose and turn the warning into an error too, so a bomb never decodes.
    """
    if not data:
        raise PermanentError("image file is empty (0 bytes)")
    Image.MAX_IMAGE_PIXELS = max_pixels
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image: Image.Image = Image.open(io.BytesIO(data))
            width, height = image.size
            if width > max_side or height > max_side:
                raise PermanentError(f"image is {width}x{height}; the largest side allowed is {max_side}")
            image.load()  # truncated files fail here, not later inside an engine
    except PermanentError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise PermanentError(f"image has more than {max_pixels} pixels (decompression bomb guard)") from None
    except UnidentifiedImageError:
        raise PermanentError("file is not a supported image") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise PermanentError(f"image is corrupt or truncated: {str(exc)[:200]}") from None
    frames = getattr(image, "n_frames", 1)
    if frames > 1:
        # One image is one page. Reading frame 1 alone would drop pages without a word.
        raise PermanentError(f"image has {frames} frames (pages); split it into one image per page")
    return to_rgb(image)


def to_rgb(image: Image.Image) -> Image.Image:
    """Any mode as 8-bit RGB on white, before any engine sees it: transparency composited on
    white (ink on a transparent background stays ink), 16- and 32-bit grey scaled to 8 bits,
    palette, CMYK, LA and 1-bit converted."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        values = np.asarray(image, dtype=np.float64)
        top = 65535.0 if image.mode.startswith("I;16") else max(float(values.max()), 1.0)
        if image.mode == "I" and top <= 65535:
            top = 65535.0 if top > 255 else 255.0  # a 16-bit PNG opens as "I"
        image = Image.fromarray(np.clip(values / top * 255.0 + 0.5, 0, 255).astype(np.uint8), "L")
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "La", "RGBa"):
        rgba = image.convert("RGBA")
        page = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        page.alpha_composite(rgba)
        image = page
    return image if image.mode == "RGB" else image.convert("RGB")
