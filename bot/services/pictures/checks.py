"""Checks on an encoded picture that need only its header, done before anything decodes it.

Pillow reads the width and height without decoding the pixels, so a decompression bomb (a few
KB of PNG that would inflate to gigabytes) is refused here. Only the formats phones and chat
apps send are opened: Pillow's rarer parsers (EPS through Ghostscript, …) never see the bytes.
"""
from __future__ import annotations

import io
import warnings

from PIL import Image

from bot.services.pictures.reading import PictureError

MAX_PICTURE_BYTES = 8 * 1024 * 1024  # a phone screenshot is 0.2-3 MB, a long one a little more
MAX_PIXELS = 30_000_000  # a 3x phone screenshot is 3.6 MP; a long scrolling capture 1290x20000 passes
FORMATS = ("PNG", "JPEG", "WEBP", "GIF", "BMP")


def check_picture(data: bytes) -> tuple[int, int]:
    """The picture's (width, height), or PictureError "too_big", "not_image", "too_many_pixels"."""
    if not isinstance(data, (bytes, bytearray)) or not data:
        raise PictureError("not_image", "no bytes")
    if len(data) > MAX_PICTURE_BYTES:
        raise PictureError("too_big", f"{len(data)} bytes, at most {MAX_PICTURE_BYTES}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=FORMATS) as picture:
                width, height = picture.size
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise PictureError("too_many_pixels", str(exc)) from exc
    except Exception as exc:  # UnidentifiedImageError, OSError, struct.error …: a parser refusing bytes
        raise PictureError("not_image", type(exc).__name__) from exc
    if width < 1 or height < 1 or width * height > MAX_PIXELS:
        raise PictureError("too_many_pixels", f"{width}x{height}, at most {MAX_PIXELS} pixels")
    return width, height
