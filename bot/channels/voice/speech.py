"""Turn a chat text into sentences a phone voice can read out.

On the phone nobody sees a link, an emoji or a numbered list, and a long sentence is lost
before it ends. So:

- links are taken out (returned apart, the caller decides whether to text them);
- emoji, pictographs, arrows and markdown marks are dropped;
- list numbering "1. …" / "（2）…" / "③ …" becomes "第一，…", bullets are dropped;
- every run of three or more digits (110, 96110, phone numbers, account fragments) is read
  digit by digit, with 1 as 幺 as Chinese telephone operators say it (幺幺零, 九六幺幺零);
  a number followed by a unit (50000元, 2025年, 30分钟) is a quantity and left to the
  voice, and so are one- and two-digit numbers ("请按1");
- sentences end at 。！？；or a line break, and a sentence longer than ``max_chars`` is cut
  at its commas (or, lacking commas, at ``max_chars``).
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

# How telephone operators read digits: 1 is 幺 so that it cannot be heard as 七.
PHONE_DIGITS = "零幺二三四五六七八九"
DEFAULT_MAX_CHARS = 30

_LINK = re.compile(
    r"(?:https?://|www\.)[^\s\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]+"
    r"|\b[a-zA-Z0-9][a-zA-Z0-9-]*(?:\.[a-zA-Z0-9-]+)*"
    r"\.(?:com|cn|net|org|gov|top|xyz|vip|cc|io|me|info|shop|site|app)\b"
    r"(?:/[^\s\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]*)?",
    re.IGNORECASE,
)
_UNITS = "元块角分万千百亿岁年月日号点秒天周个次倍人笔张条位户家所%％米斤克小"
# Digits with optional single spaces or hyphens between them, not part of a decimal.
_DIGIT_RUN = re.compile(rf"(?<![\d.])(\+?\d(?:[ -]?\d){{2,}})(?![\d.]|\s*[{_UNITS}])")
_LIST_ITEM = re.compile(r"^\s*(?:[(（]\s*(\d{1,2})\s*[)）]|(\d{1,2})\s*[.、．)）](?!\d))\s*")
_CIRCLED = {chr(0x2460 + i): i + 1 for i in range(20)}  # ① … ⑳
_BULLET = re.compile(r"^\s*(?:[-•·*+]|>+)\s+")
_MARKDOWN = re.compile(r"[*_`#~|]+")
_BRACKETS = str.maketrans({"〔": None, "〕": None, "【": None, "】": None,
                           # a remark in brackets is read as a clause of its own
                           "（": "，", "）": "，", "(": "，", ")": "，"})
_SENTENCE_END = "。！？；!?;"
_CLAUSE_END = "，,：:"
_END_MARK = {"！": "！", "!": "！", "？": "？", "?": "？"}  # everything else ends with 。
_CHINESE_SMALL = "零一二三四五六七八九十"


@dataclass(frozen=True)
class Spoken:
    sentences: tuple[str, ...]
    links: tuple[str, ...]

    @property
    def text(self) -> str:
        return "".join(self.sentences)


def chinese_ordinal(n: int) -> str:
    """1 → 一, 12 → 十二, 20 → 二十 (list items, up to 99)."""
    if n <= 10:
        return _CHINESE_SMALL[n]
    tens, ones = divmod(n, 10)
    head = "" if tens == 1 else _CHINESE_SMALL[tens]
    return head + "十" + (_CHINESE_SMALL[ones] if ones else "")


def read_digits(run: str, digits: str = PHONE_DIGITS) -> str:
    """'96110' → '九六幺幺零'; a leading + is read 加; spaces and hyphens are dropped."""
    out = "加" if run.startswith("+") else ""
    return out + "".join(digits[int(ch)] for ch in run if ch.isdigit())


def _is_noise(ch: str) -> bool:
    if ch in "\u200d\ufe0e\ufe0f\u20e3":  # joiners, emoji presentation selectors, keycaps
        return True
    if 0x2190 <= ord(ch) <= 0x21FF:  # arrows
        return True
    return unicodedata.category(ch) in ("So", "Sk", "Cs", "Co", "Cf", "Me")


def _line(line: str) -> str:
    line = "".join(f"第{chinese_ordinal(_CIRCLED[ch])}，" if ch in _CIRCLED else ch for ch in line)
    item = _LIST_ITEM.match(line)
    if item:
        line = f"第{chinese_ordinal(int(item.group(1) or item.group(2)))}，" + line[item.end():]
    else:
        line = _BULLET.sub("", line)
    line = "".join(ch for ch in line if not _is_noise(ch))
    line = _MARKDOWN.sub("", line).translate(_BRACKETS)
    return _DIGIT_RUN.sub(lambda m: read_digits(m.group(1)), line)


def _tidy(piece: str) -> str:
    """Drop dangling punctuation left where a link or emoji was; end with a full stop."""
    piece = re.sub(r"\s+", " ", piece)
    piece = re.sub(r"([，,：:、])[，,：:、]+", r"\1", piece)
    piece = re.sub(r"(?<=[^\x00-\x7f]) | (?=[^\x00-\x7f])", "", piece).strip(" ，,：:、")
    piece = re.sub(r"[，,：:、]+(?=[。！？；!?;])", "", piece)
    if not piece or not re.search(r"[\w\u4e00-\u9fff]", piece):
        return ""
    body = piece.rstrip(_SENTENCE_END)
    end = piece[len(body):][:1]
    return body + _END_MARK.get(end, "。")


def _cut(sentence: str, max_chars: int) -> list[str]:
    """Pack the sentence's clauses into pieces of at most max_chars."""
    if len(sentence) <= max_chars:
        return [sentence]
    clauses = re.findall(rf"[^{_CLAUSE_END}]+[{_CLAUSE_END}]?", sentence)
    pieces: list[str] = []
    current = ""
    for clause in clauses:
        while len(clause) > max_chars:  # a clause with no comma: cut after 、 or a space if any
            if current:
                pieces.append(current)
                current = ""
            soft = max(clause.rfind("、", 0, max_chars), clause.rfind(" ", 0, max_chars))
            cut = soft + 1 if soft > max_chars // 3 else max_chars
            pieces.append(clause[:cut])
            clause = clause[cut:]
        if len(current) + len(clause) > max_chars and current:
            pieces.append(current)
            current = ""
        current += clause
    if current:
        pieces.append(current)
    return pieces


def speakable(text: str | None, max_chars: int = DEFAULT_MAX_CHARS) -> Spoken:
    """The sentences to say for ``text``, and the links that were taken out of it."""
    text = text or ""
    links = tuple(match.group(0).rstrip(".,;:)") for match in _LINK.finditer(text))
    text = _LINK.sub("", text)
    sentences: list[str] = []
    for raw_line in text.splitlines():
        line = _line(raw_line)
        for sentence in re.findall(rf"[^{_SENTENCE_END}]+[{_SENTENCE_END}]*", line):
            body = sentence.strip()
            end = body[len(body.rstrip(_SENTENCE_END)):][:1]  # keep one end mark
            pieces = _cut(body.rstrip(_SENTENCE_END), max_chars - 1)  # room for the end mark
            pieces[-1] += end
            for piece in pieces:
                piece = _tidy(piece)
                if piece:
                    sentences.append(piece)
    return Spoken(sentences=tuple(sentences), links=links)
