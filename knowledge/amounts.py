"""Understand money amounts the way residents write them: 5万, 五万元, 50,000, 5w, 3千5, 两千块."""
from __future__ import annotations

import re

_DIGITS = {"零": 0, "〇": 0, "一": 1, "壹": 1, "二": 2, "贰": 2, "两": 2, "俩": 2, "三": 3, "叁": 3,
           "四": 4, "肆": 4, "五": 5, "伍": 5, "六": 6, "陆": 6, "七": 7, "柒": 7, "八": 8, "捌": 8,
           "九": 9, "玖": 9}
_UNITS = {"十": 10, "拾": 10, "百": 100, "佰": 100, "千": 1000, "仟": 1000, "k": 1000, "K": 1000,
          "万": 10_000, "萬": 10_000, "w": 10_000, "W": 10_000, "亿": 100_000_000}
_NUM = r"(?:\d+(?:,\d{3})*(?:\.\d+)?|[零〇一壹二贰两俩三叁四肆五伍六陆七柒八捌九玖十拾百佰千仟万萬亿点]+)"
_UNIT = r"(?:[十拾百佰千仟万萬亿kKwW])"
_CURRENCY = r"(?:块钱|块|元|圆|rmb|RMB|人民币)"
AMOUNT_PATTERN = re.compile(
    rf"(?<![A-Za-z0-9.,])(¥|￥)?\s?({_NUM}\s?{_UNIT}*(?:{_NUM})?)\s?(多)?({_CURRENCY})?"
)


def _chinese_number(text: str) -> float | None:
    """Parse Chinese numerals and mixed forms such as 三万五千, 3千5, 1.2万."""
    if not text:
        return None
    total = 0.0
    section = 0.0
    current: float | None = None
    last_unit = 1
    i = 0
    while i < len(text):
        ch = text[i]
        if ch.isdigit():
            j = i
            while j < len(text) and (text[j].isdigit() or text[j] in ".,"):
                j += 1
            current = float(text[i:j].replace(",", ""))
            i = j
            continue
        if ch == "点" and current is not None:  # 一点五万
            j = i + 1
            decimals = ""
            while j < len(text) and text[j] in _DIGITS:
                decimals += str(_DIGITS[text[j]])
                j += 1
            current = float(f"{int(current)}.{decimals or 0}")
            i = j
            continue
        if ch in _DIGITS:
            current = float(_DIGITS[ch])
        elif ch in _UNITS:
            unit = _UNITS[ch]
            if unit >= 10_000:
                section = (section + (current if current is not None else (0 if section else 1))) * unit
                total += section
                section = 0.0
            else:
                section += (current if current is not None else 1) * unit
            current = None
            last_unit = unit
        else:
            return None
        i += 1
    if current is not None:
        # A trailing digit after a unit is one step smaller: 3千5 = 3500, 1万2 = 12000.
        if last_unit > 1 and total + section > 0 and current < 10:
            step = last_unit // 10 if last_unit < 10_000 else 1000
            section += current * step
        else:
            section += current
    value = total + section
    return value if value > 0 else None


def parse_amount(text: str) -> float | None:
    """Return the first amount in yuan, or None when ``text`` holds no amount.

    A bare number counts only when it is the whole answer (e.g. "50,000" to "how much?").
    """
    found = find_amounts(text)
    if found:
        return found[0][2]
    bare = (text or "").strip().rstrip("多左右")
    if re.fullmatch(_NUM, bare):
        return _chinese_number(bare)
    return None


def find_amounts(text: str) -> list[tuple[int, int, float]]:
    """All amounts with a currency word or a unit, as (start, end, yuan)."""
    found = []
    for match in AMOUNT_PATTERN.finditer(text or ""):
        number = match.group(2)
        has_unit = bool(re.search(_UNIT, number)) or bool(match.group(1) or match.group(4))
        if not has_unit or not re.search(r"\d|[一二两三四五六七八九十百千万]", number):
            continue
        value = _chinese_number(number.replace(" ", ""))
        if value:
            found.append((match.start(), match.end(), value))
    return found


def format_yuan(value: float) -> str:
    """50000 -> '50,000元'; 1234.5 -> '1,234.5元'."""
    if value == int(value):
        return f"{int(value):,}元"
    return f"{value:,.2f}".rstrip("0").rstrip(".") + "元"
