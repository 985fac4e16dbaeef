"""From the pieces of text an OCR engine found to the lines of the message, in reading order.

Three steps, each measured with bench/ocr_bench.py (without them the checker's verdict on a
screenshot differed from its verdict on the typed text in one case in eight):
- rows top to bottom, the pieces of a row left to right; pieces far apart on one row (an avatar's
  letter beside a bubble, the two ends of a status bar) stay separate lines;
- a line that wrapped inside its bubble is joined to the next one, so a sentence is one line
  again (an explicit line break, where the line ends short, is kept);
- the phone's status bar and the chat's time stamps are dropped: they are not the message, and
  their digits and percentages moved the checker's verdict.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

# A line that is only a time stamp, as chat and SMS apps print them between messages.
TIME_STAMP = re.compile(
    r"(短信|彩信|iMessage|信息|今天|昨天|前天|星期[一二三四五六日天]|周[一二三四五六日天]"
    r"|上午|下午|中午|晚上|凌晨|早上|\d{4}年|\d{1,2}月\d{1,2}日|\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}/\d{1,2}"
    r"|[·•,，\s])*\d{1,2}[:：]\d{2}"
)
# What a status bar shows: the clock, the battery, the network.
STATUS = re.compile(r"\d{1,2}[:：]\d{2}|\d{1,3}\s*%|[345]G|LTE|HD|Wi-?Fi", re.IGNORECASE)
STATUS_BAR_SHARE = 0.07  # the status bar is the top 3-6% of a phone screenshot
PHONE_SHAPE = 1.5  # height / width from which a picture is taken for a phone screen
_LATIN_WORD = re.compile(r"[A-Za-z0-9][\x21-\x7e]*")  # a run that wraps whole: a word, a number, a link


@dataclass(frozen=True)
class Piece:
    text: str
    left: float
    top: float
    right: float
    bottom: float
    size: float = 0.0  # the height of one line of its text (a joined paragraph spans several)

    def __post_init__(self) -> None:
        if not self.size:
            object.__setattr__(self, "size", self.bottom - self.top)


def message_lines(pieces: list[Piece], width: float, height: float) -> list[str]:
    lines = paragraphs(lines_in_order(pieces))
    phone = height >= PHONE_SHAPE * width
    return [
        line.text for line in lines
        if not TIME_STAMP.fullmatch(line.text)
        and not (phone and line.bottom <= STATUS_BAR_SHARE * height and STATUS.search(line.text))
    ]


def lines_in_order(pieces: list[Piece]) -> list[Piece]:
    """Rows top to bottom (a piece joins a row when its vertical middle lies within the row),
    each row's pieces left to right, split where the gap is wider than a character."""
    rows: list[list[Piece]] = []
    for piece in sorted(pieces, key=lambda p: (p.top, p.left)):
        row = rows[-1] if rows else None
        if row and min(p.top for p in row) <= (piece.top + piece.bottom) / 2 <= max(p.bottom for p in row):
            row.append(piece)
        else:
            rows.append([piece])
    lines: list[Piece] = []
    for row in rows:
        line: Piece | None = None
        for piece in sorted(row, key=lambda p: p.left):
            if line is not None and piece.left - line.right <= 1.2 * max(line.size, piece.size):
                line = _joined(line, piece, " ")
            else:
                if line is not None:
                    lines.append(line)
                line = piece
        lines.append(line)  # type: ignore[arg-type]  # every row holds at least one piece
    return lines


def paragraphs(lines: list[Piece]) -> list[Piece]:
    """Join each line that wrapped to the line below it (looking back past an avatar's letter
    or a bubble on the other side that shares the row)."""
    joined: list[Piece] = []
    for line in lines:
        recent = range(len(joined) - 1, max(-1, len(joined) - 4), -1)  # the last three lines
        above = next((i for i in recent if _continues(joined[i], line)), None)
        if above is None:
            joined.append(line)
        else:
            first = joined[above]
            joined[above] = _joined(first, line, " " if _latin(first.text[-1:]) and _latin(line.text[:1]) else "")
    return joined


def _continues(above: Piece, below: Piece) -> bool:
    size = below.size
    return (
        -0.3 * size <= below.top - above.bottom < 0.8 * size  # the next line, not a new bubble
        and abs(below.left - above.left) < 0.8 * size
        and above.right >= below.right - _wrap_allowance(above, below) * size  # ran to the bubble's edge
        and abs(above.size - size) < 0.35 * size  # the same font
    )


def _wrap_allowance(above: Piece, below: Piece) -> float:
    """How far short of the bubble's edge, in line heights, a line that wrapped may end: Chinese
    wraps anywhere (within a character or so), but a Latin word, a flight number or a link that
    did not fit moves whole to the next line, leaving its width free ("您购买的" / "KY8xx1航班…")."""
    allowance = 5.0 if _latin(above.text[-1:]) else 1.5
    word = _LATIN_WORD.match(below.text)
    if word:
        allowance = max(allowance, 1.5 + 0.7 * len(word.group()))  # a Latin character is 0.5-0.7 of a line height wide
    return allowance


def _joined(first: Piece, second: Piece, separator: str) -> Piece:
    return Piece(first.text + separator + second.text, min(first.left, second.left), min(first.top, second.top),
                 max(first.right, second.right), max(first.bottom, second.bottom), max(first.size, second.size))


def _latin(character: str) -> bool:
    """Latin words wrap at spaces (joined with one); Chinese wraps anywhere (joined with none)."""
    return character.isascii() and character.isalnum()
