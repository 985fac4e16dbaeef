"""The OCR itself, run inside the worker process only (bot/services/pictures/worker.py).

RapidOCR (PaddleOCR's PP-OCRv4 Chinese models on ONNX Runtime; the models ship inside the
rapidocr-onnxruntime wheel, nothing is downloaded). The picture is decoded from memory by Pillow
and handed over as a Pillow image: it never touches the disk.
"""
from __future__ import annotations

import io

from PIL import Image, ImageOps

from bot.services.pictures.checks import FORMATS, MAX_PIXELS
from bot.services.pictures.layout import Piece, message_lines
from bot.services.pictures.reading import PictureError

# Pictures wider than this are scaled down to it: phone text is then 25-35 px high, which the
# recognition model reads as well as the original (bench/ocr_bench.py), and time and memory no
# longer grow with the phone's pixel density.
OCR_WIDTH = 800
# Taller pictures (long scrolling screenshots) are read in slices of this height, overlapping so
# that every line lies whole in one slice: the detector's memory grows with the pixels it sees
# (about 600 MB for one phone screen), and one slice holds a whole 20:9 screen.
SLICE_HEIGHT = 1800
SLICE_OVERLAP = 160
MIN_SCORE = 0.5  # RapidOCR's own default: pieces it is less sure of are dropped


class Engine:
    def __init__(self, threads: int = 1) -> None:
        from rapidocr_onnxruntime import RapidOCR

        # Slices are at most OCR_WIDTH x SLICE_HEIGHT, so RapidOCR must not shrink them again;
        # screenshots are upright, so its 180-degree classifier is skipped.
        self._ocr = RapidOCR(
            intra_op_num_threads=threads, inter_op_num_threads=1, use_cls=False,
            max_side_len=max(SLICE_HEIGHT, OCR_WIDTH), text_score=MIN_SCORE,
        )

    def read(self, data: bytes) -> list[str]:
        """The message's lines in reading order (possibly none); PictureError "not_image" if undecodable."""
        picture = prepare(decode(data))
        pieces = []
        for top, keep_from, keep_to in slices(picture.height):
            result, _ = self._ocr(picture.crop((0, top, picture.width, min(picture.height, top + SLICE_HEIGHT))))
            for box, text, _score in result or ():
                piece = Piece(text.strip(), *_bounds(box, top))
                if piece.text and keep_from <= (piece.top + piece.bottom) / 2 < keep_to:
                    pieces.append(piece)
        return message_lines(pieces, picture.width, picture.height)


def slices(height: int) -> list[tuple[int, int, int]]:
    """(top, keep_from, keep_to) of each slice: a line is kept from the slice whose own part,
    between the middles of the overlaps, holds its middle."""
    tops = list(range(0, max(1, height - SLICE_OVERLAP), SLICE_HEIGHT - SLICE_OVERLAP))
    half = SLICE_OVERLAP // 2
    return [(top, 0 if i == 0 else top + half, height if i == len(tops) - 1 else top + SLICE_HEIGHT - half)
            for i, top in enumerate(tops)]


def decode(data: bytes) -> Image.Image:
    """Decode fully (a truncated file fails here), turned upright as the camera saw it."""
    Image.MAX_IMAGE_PIXELS = MAX_PIXELS  # checks.py already refused larger: a second guard
    try:
        with Image.open(io.BytesIO(data), formats=FORMATS) as picture:
            picture.load()
            upright = ImageOps.exif_transpose(picture)
            return _on_white(upright)
    except PictureError:
        raise
    except Exception as exc:  # truncated or corrupt data: Pillow raises OSError, SyntaxError …
        raise PictureError("not_image", type(exc).__name__) from exc


def prepare(picture: Image.Image) -> Image.Image:
    """Scaled down to OCR_WIDTH (never enlarged: a small picture's text is already small)."""
    if picture.width > OCR_WIDTH:
        height = max(1, round(picture.height * OCR_WIDTH / picture.width))
        picture = picture.resize((OCR_WIDTH, height), Image.Resampling.LANCZOS)
    return picture


def _on_white(picture: Image.Image) -> Image.Image:
    if picture.mode in ("RGBA", "LA", "PA") or "transparency" in picture.info:
        background = Image.new("RGB", picture.size, "white")
        background.paste(picture.convert("RGBA"), mask=picture.convert("RGBA").getchannel("A"))
        return background
    return picture.convert("RGB")


def _bounds(box: list[list[float]], top: float = 0) -> tuple[float, float, float, float]:
    xs, ys = [p[0] for p in box], [p[1] + top for p in box]
    return min(xs), min(ys), max(xs), max(ys)
