"""How numbers are said on the phone line: amounts as words, account and phone numbers digit by digit.

Text-to-speech reads "6222021234567890" as one huge number and "50000元" unevenly; a caller
has to repeat both to 110, so amounts become 五万元 and long numbers 六二二二，零二幺二 ….
"""
from __future__ import annotations

import re
from typing import Sequence

# Three or more digits, possibly written in groups ("138 1234 5678", "6222-0212-…").
LONG_NUMBER = re.compile(r"(?<!\d)\d(?:[ \-]?\d){2,}(?!\d)")
_NUMERALS = "零一二三四五六七八九"
_SMALL_UNITS = ("", "十", "百", "千")
_BIG_UNITS = ("", "万", "亿", "万亿")


def digit_groups(digits: str) -> list[str]:
    """A mobile number in the 3-4-4 way people say it; anything else in fours."""
    if len(digits) == 11 and digits.startswith("1"):
        return [digits[:3], digits[3:7], digits[7:]]
    return [digits[i : i + 4] for i in range(0, len(digits), 4)]


def digits_aloud(text: str, digit_words: Sequence[str], separator: str = "，") -> str:
    """Spell every run of three or more digits in ``text``, group by group."""

    def spell(match: re.Match[str]) -> str:
        digits = re.sub(r"\D", "", match.group(0))
        groups = digit_groups(digits)
        return separator.join("".join(digit_words[int(d)] for d in group) for group in groups)

    return LONG_NUMBER.sub(spell, text)


def _section(number: int) -> str:
    """0 < number < 10000 in words: 3500 -> 三千五百, 1020 -> 一千零二十, 12 -> 十二."""
    out: list[str] = []
    zero_pending = False
    for position in range(3, -1, -1):
        digit = number // 10**position % 10
        if digit == 0:
            zero_pending = bool(out)
            continue
        if zero_pending:
            out.append("零")
            zero_pending = False
        word = "两" if digit == 2 and position == 3 else _NUMERALS[digit]
        out.append(word + _SMALL_UNITS[position])
    words = "".join(out)
    return words[1:] if words.startswith("一十") else words


def integer_aloud(number: int) -> str:
    """A whole number in Chinese words: 50000 -> 五万, 10200 -> 一万零二百, 20000 -> 两万."""
    if number == 0:
        return "零"
    sections = []
    while number:
        sections.append(number % 10000)
        number //= 10000
    out: list[str] = []
    for index in range(len(sections) - 1, -1, -1):
        section = sections[index]
        if section == 0:
            continue
        words = _section(section)
        if index and section == 2:
            words = "两"  # 两万, 两亿
        if out and words.startswith("十"):
            words = "一" + words  # 十万零一十, not 十万零十
        if out and section < 1000:
            words = "零" + words  # 一万零二百
        out.append(words + _BIG_UNITS[index])
    return "".join(out)


def yuan_aloud(value: float) -> str:
    """An amount as said aloud: 50000 -> 五万元, 3500 -> 三千五百元, 12.5 -> 十二元五角."""
    fen = round(value * 100)
    if fen <= 0:
        raise ValueError(f"not a positive amount: {value}")
    yuan, rest = divmod(fen, 100)
    jiao, fen = divmod(rest, 10)
    words = integer_aloud(yuan) + "元" if yuan else ""
    if jiao:
        words += _NUMERALS[jiao] + "角"
    elif fen and yuan:
        words += "零"
    if fen:
        words += _NUMERALS[fen] + "分"
    return words


def group_digits(text: str, minimum: int = 7) -> str:
    """Write long numbers in groups for reading out: 6222021234567890 -> 6222 0212 3456 7890."""

    def regroup(match: re.Match[str]) -> str:
        digits = re.sub(r"\D", "", match.group(0))
        return " ".join(digit_groups(digits)) if len(digits) >= minimum else match.group(0)

    return LONG_NUMBER.sub(regroup, text)
