"""Decode page images defensively: every way a file can be bad becomes a PermanentError."""

from __future__ import annotations

import io
import warnings

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
    if image.mode != "RGB":
        image = image.convert("RGB")
    return image
