import io

import pytest
from PIL import Image

from comicocr.errors import PermanentError
from comicocr.images import decode


def png(width: int = 40, height: int = 30) -> bytes:
    buf = io.BytesIO()
    Image.new("L", (width, height), 255).save(buf, "PNG")
    return buf.getvalue()


def test_good_image_decodes_to_rgb() -> None:
    image = decode(png())
    assert (image.mode, image.size) == ("RGB", (40, 30))


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"", "empty"),
        (b"%PDF-1.4 not an image", "not a supported image"),
        (png()[:60], "corrupt or truncated"),
    ],
)
def test_bad_bytes_are_permanent_errors(data: bytes, why: str) -> None:
    with pytest.raises(PermanentError, match=why):
        decode(data)


def test_decompression_bomb_is_refused() -> None:
    with pytest.raises(PermanentError, match="decompression bomb"):
        decode(png(400, 400), max_pixels=10_000)


def test_overlong_side_is_refused() -> None:
    with pytest.raises(PermanentError, match="largest side"):
        decode(png(500, 20), max_side=400)
