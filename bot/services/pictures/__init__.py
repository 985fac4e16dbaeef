"""Reading the words in a picture a resident sends (a chat or SMS screenshot).

``read_picture`` checks the encoded bytes (size, format, pixel count: bot/services/pictures/checks.py)
before anything decodes them, then has the OCR worker process (client.py, worker.py, engine.py)
read the text: local Chinese OCR whose models ship inside a Python package. The lines come back
in reading order. The picture is never written to disk: it travels to the worker through a pipe
and is decoded in memory.
"""
from __future__ import annotations

import atexit

from bot.services.pictures.checks import MAX_PICTURE_BYTES, MAX_PIXELS, check_picture
from bot.services.pictures.client import OcrProcess
from bot.services.pictures.reading import REASONS, PictureError, Reading

_worker: OcrProcess | None = None


def ocr_worker() -> OcrProcess:
    """The server's one OCR worker (its process starts on the first picture)."""
    global _worker
    if _worker is None:
        _worker = OcrProcess()
        atexit.register(_worker.stop)
    return _worker


async def read_picture(data: bytes) -> Reading:
    """Check ``data``, then OCR it in the worker process; never writes it to disk.

    Raises PictureError with reason "not_image", "too_big", "too_many_pixels", "no_text",
    "busy" or "failed".
    """
    check_picture(data)
    answer = await ocr_worker().read(bytes(data))
    if not answer.lines:
        raise PictureError("no_text", "no words found in the picture")
    return Reading(text="\n".join(answer.lines), lines=tuple(answer.lines), seconds=answer.seconds)


__all__ = [
    "MAX_PICTURE_BYTES", "MAX_PIXELS", "REASONS", "OcrProcess", "PictureError", "Reading", "ocr_worker",
    "read_picture",
]
