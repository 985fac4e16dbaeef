"""What reading a picture gives back: the words, or a PictureError saying why not."""
from __future__ import annotations

from dataclasses import dataclass

REASONS = ("not_image", "too_big", "too_many_pixels", "no_text", "busy", "failed")


class PictureError(ValueError):
    """A picture that could not be read; ``reason`` is one of ``REASONS`` (the channels map
    each reason to a message for the resident)."""

    def __init__(self, reason: str, detail: str = "") -> None:
        if reason not in REASONS:
            raise ValueError(f"unknown picture error reason: {reason}")
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


@dataclass(frozen=True)
class Reading:
    text: str  # the words read, lines joined with "\n", in reading order
    lines: tuple[str, ...]
    seconds: float  # time the engine took for this picture (not the wait in the queue)
