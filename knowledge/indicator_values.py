"""One way of writing a link, a phone number or an account, whatever way it was typed.

Residents and scammers write the same value many ways: full-width characters
("１３８１２３４５６７８"), spaces and dashes ("138 1234-5678"), Chinese numerals as speech
recognition writes them ("幺三八…"), "点com" or "dot com" for ".com", +86/0086 in front. The
text view undoes these while keeping, for every character, where it came from, so an
indicator is shown with the resident's own characters. ``stored_form`` gives the form that
is compared and stored, the risk list's own (knowledge/risk_values.py), so a value found in a
message and the same value imported from a CSV are equal.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from .normalise import _sub
from .risk_values import ValueProblem, normalise

# Full-width ASCII and the ideographic space, one character for one character.
_FOLD = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}
_NUMERALS = str.maketrans("零〇一二三四五六七八九幺两", "0012345678912")
# Seven or more Chinese numerals, single spaces allowed between them ("幺八六 零零零零 幺二三四").
_NUMERAL_RUN = re.compile(r"[零〇一二三四五六七八九幺两](?: ?[零〇一二三四五六七八九幺两]){6,}")
_TLD_AHEAD = r"(?=(?:com|cn|net|org|top|xyz|vip|cc|co|info|shop|site|app|io|me|club|icu|live)(?![a-z]))"
# "icbc点com", "icbc 點 com", "icbc dot com", "icbc[.]com", "www . icbc . com": a dot.
_SPOKEN_DOT = re.compile(
    rf"(?<=[a-z0-9])\s*(?:[点點]|\(dot\)|\[dot\]|\bdot\b|\[\.\]|\(\.\))\s*{_TLD_AHEAD}"
    rf"|(?<=[a-z0-9])。(?=[a-z0-9])|(?<=[a-z0-9])\s+\.\s*(?=[a-z0-9])|(?<=[a-z0-9])\.\s+{_TLD_AHEAD}|(?<=www)\.\s+(?=[a-z0-9])",
    re.IGNORECASE,
)
_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*://", re.IGNORECASE)


@dataclass(frozen=True)
class TextView:
    text: str
    origin: tuple[int, ...]  # index in the original text of each character of ``text``

    def span(self, start: int, end: int) -> tuple[int, int]:
        return self.origin[start], self.origin[end - 1] + 1


def fold(text: str) -> str:
    """Full-width to ASCII and Chinese numeral runs to digits, character for character."""
    text = text.translate(_FOLD)
    return _NUMERAL_RUN.sub(lambda m: m.group(0).translate(_NUMERALS), text)


def text_view(text: str) -> TextView:
    """The text as links and numbers are searched in (see the module docstring)."""
    folded = fold(text)
    view, origin = _sub(_SPOKEN_DOT, lambda m: ".", folded, list(range(len(folded))))
    return TextView(view, tuple(origin))


def split_link(link: str) -> tuple[str, str, str]:
    """(userinfo, host with port, the rest: path, query) of a link, scheme dropped."""
    rest = _SCHEME.sub("", link.strip())
    cut = re.search(r"[/?#]", rest)
    authority, tail = (rest[: cut.start()], rest[cut.start() :]) if cut else (rest, "")
    userinfo, _, host = authority.rpartition("@")
    return userinfo, host, tail.split("#", 1)[0]


def stored_form(kind: str, text: str) -> str:
    """The risk list's one form of a value (knowledge/risk_values.py), from the text view.
    A value the list cannot hold (a WeChat id, an e-mail address): lower case, no spaces."""
    try:
        return normalise(kind, text)
    except ValueProblem:
        return re.sub(r"\s+", "", text).lower()


def mask_account(text: str) -> str:
    """An account as shown back: the middle hidden, the resident's own spacing kept.

    Card and account numbers keep their first and last four digits (an 11-digit phone used
    as an account its first three and last four); ids and e-mail addresses keep two
    characters at each end of the name.
    """
    digits = sum(c.isdigit() for c in fold(text))
    letters = re.sub(r"[\s\-]", "", text)
    if digits == len(letters):
        head, tail = (3, 4) if digits == 11 else (4, 4) if digits >= 12 else (2, 2)
        out, seen = [], 0
        for char in text:
            if fold(char).isdigit():
                seen += 1
                out.append(char if seen <= head or seen > digits - tail else "*")
            else:
                out.append(char)
        return "".join(out)
    name, at, domain = text.partition("@")
    if len(name) <= 4:
        return name[:1] + "***" + at + domain
    return name[:2] + "***" + name[-2:] + at + domain
