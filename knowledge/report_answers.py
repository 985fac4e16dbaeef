"""Understanding the resident's answers to the report form, one question at a time.

Pure functions (no Rasa): the form's validation action asks ``understand(key, text)`` and
either keeps the answer or asks once more with an example. A question the resident skips is
stored as ``SKIPPED`` so the police know it was asked.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from knowledge.amounts import find_amounts, parse_amount
from knowledge.case_summary import SKIPPED
from knowledge.nlp import Lexicon, load_lexicon

# Answers that only say "I don't know" or "skip" (the NLU's dont_know intent catches most;
# this also catches them when they arrive as plain text, e.g. typed on a keypad).
_SKIP = re.compile(r"^\s*(不知道|不清楚|不记得了?|忘了|记不清了?|跳过|略过|下一个|skip|/dont_know)\s*[。.!！]?\s*$", re.I)
# Words that place an answer in time: digits, dates, parts of the day, "ago".
_TIME_WORDS = re.compile(r"\d|[今昨前上下本这那][天午周月年]|[早晚中]上|[早晚]|凌晨|傍晚|夜|刚[才刚]|之前|以前|"
                         r"[点号日月年周]|星期|礼拜|分钟|小时|[一二三四五六七八九十两几]+[天个]")


@dataclass(frozen=True)
class Answer:
    value: object  # the text, a list of payment channel codes, or SKIPPED
    understood: bool


def is_skip(text: str) -> bool:
    return bool(_SKIP.match(text or ""))


@lru_cache(maxsize=1)
def _lexicon() -> Lexicon:
    return load_lexicon()


def payment_channels_in(text: str, lexicon: Lexicon | None = None) -> list[str]:
    """Payment channel codes named in ``text``, in the order they appear."""
    lexicon = lexicon or _lexicon()
    found: list[tuple[int, str]] = []
    for code, words in lexicon.payment_channels.items():
        positions = [text.find(w) for w in words if w in text]
        if positions:
            found.append((min(positions), code))
    # "微信" alone, answering "how did you pay", means WeChat Pay.
    if "wechat_pay" not in {c for _, c in found} and "微信" in text:
        found.append((text.find("微信"), "wechat_pay"))
    return [code for _, code in sorted(found)]


def understand(key: str, text: str) -> Answer:
    """The value to keep for the form field ``key`` and whether the answer made sense."""
    text = (text or "").strip()
    if is_skip(text):
        return Answer(SKIPPED, True)
    if not text:
        return Answer(None, False)
    if key == "amount":
        # Answering "how much", a bare number is an amount too ("一次2000一次8000").
        ok = parse_amount(text) is not None or bool(find_amounts(text)) or bool(re.search(r"\d", text))
        return Answer(text, ok)
    if key == "payment_channel":
        codes = payment_channels_in(text)
        return Answer(codes, True) if codes else Answer(text, False)
    if key == "happened_at":
        return Answer(text, bool(_TIME_WORDS.search(text)))
    return Answer(text, True)
