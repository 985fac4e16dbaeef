"""Mask secrets that a resident types, before anything stores or classifies them.

Verification codes, passwords, PINs, CVVs and ID numbers are always masked. A full bank
card number is masked too, unless the resident says it is the account the money went to
(the police need the receiving account for stop-payment).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

MASKS = {
    "verification_code": "〔验证码已隐去〕",
    "password": "〔密码已隐去〕",
    "cvv": "〔CVV已隐去〕",
    "id_number": "〔身份证号已隐去〕",
    "bank_card": "〔银行卡号已隐去〕",
}

# A keyword, up to a few joining characters (是/为/: …), then the secret itself.
_JOIN = r"[^\d\w]{0,3}(?:是|为|：|:|号|码|is|=)?[^\d\w]{0,3}"
_CODE_WORDS = r"验证码|验正码|严正码|校验码|动态码|短信码|动态密码|验证号码|驗證碼|verification code|security code|code|otp"
_PASSWORD_WORDS = r"支付密码|取款密码|登录密码|交易密码|银行卡密码|密码|口令|PIN码?|pin码?|密碼|password|passcode|pwd"
_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("verification_code", re.compile(rf"(?:{_CODE_WORDS})[^\d〔]{{0,12}}?(\d{{4,8}})(?!\d)", re.IGNORECASE)),
    ("cvv", re.compile(rf"(?:CVV2?|cvv2?|安全码|背面三位数?|卡背三位数?){_JOIN}(\d{{3,4}})(?!\d)")),
    # A password has a digit or a Latin letter: "把密码告诉他要给吗" asks about one, it gives none.
    ("password", re.compile(rf"(?:{_PASSWORD_WORDS}){_JOIN}"
                            r"(?=[^\s，。,.;；！!？?、]*[0-9A-Za-z])([^\s，。,.;；！!？?、]{4,32})", re.IGNORECASE)),
    ("id_number", re.compile(r"(?<!\d)(\d{6}(?:19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dXx])(?![\dXx])")),
]
_CARD = re.compile(r"(?<!\d)(\d{16,19})(?!\d)")
# Words that say a card number belongs to the other side (the receiving account) …
_RECEIVING = re.compile(r"(对方|收款|骗子|他的|她的|他们的|转到|转给|转入|打到|打给|汇到|汇给|对面|收钱)")
# … unless the resident says, nearer to the number, that it is their own.
_OWN = re.compile(r"(我的|我自己的|自己的|本人的?|我)(银行)?(卡|账户|账号|帐户|帐号)")

# How secrets are really written: "482 913", "6222.0212.3456.7890", a number a chat bubble
# wrapped onto the next line, "四八二九一三" (speech recognition), "密 码". Secrets are found in a view of the text with these undone; every
# character of the view knows where it came from, so the original characters are masked.
_DIGIT_GAP = re.compile(r"(?<=\d)[ \t\u3000.\-·,，_/\r\n]{1,2}(?=\d)")
_WORD_GAP = re.compile(r"(?<=[\u4e00-\u9fff])[ \t\u3000]+(?=[\u4e00-\u9fff])")
_CHINESE_DIGITS = re.compile(r"[零〇一二三四五六七八九幺两]{4,}")
_TO_DIGITS = str.maketrans("零〇一二三四五六七八九幺两", "0012345678912")
_FULL_WIDTH_DIGITS = str.maketrans("０１２３４５６７８９", "0123456789")


@dataclass(frozen=True)
class Masked:
    text: str
    kinds: tuple[str, ...]  # what was masked, in order of first appearance

    @property
    def changed(self) -> bool:
        return bool(self.kinds)


def _view(text: str) -> tuple[str, list[int]]:
    """The text with digit and word gaps closed and Chinese numerals as digits, and for each of
    its characters the index of the original character."""
    text = _CHINESE_DIGITS.sub(lambda m: m.group(0).translate(_TO_DIGITS), text.translate(_FULL_WIDTH_DIGITS))
    keep = [True] * len(text)
    for gap in (_DIGIT_GAP, _WORD_GAP):
        for match in gap.finditer(text):
            for i in range(*match.span()):
                keep[i] = False
    origin = [i for i, kept in enumerate(keep) if kept]
    return "".join(text[i] for i in origin), origin


def mask_sensitive(text: str) -> Masked:
    """Replace secrets in ``text`` with readable placeholders such as 〔验证码已隐去〕."""
    view, origin = _view(text)
    found: list[tuple[int, int, str]] = []  # original start, end, kind
    for kind, pattern in _PATTERNS:
        for match in pattern.finditer(view):
            found.append((origin[match.start(1)], origin[match.end(1) - 1] + 1, kind))
    for match in _CARD.finditer(view):
        before = view[max(0, match.start() - 12) : match.start()]
        receiving = [m.end() for m in _RECEIVING.finditer(before)]
        own = [m.end() for m in _OWN.finditer(before)]
        if receiving and (not own or max(own) < max(receiving)):
            continue  # the account the money went to: the police need it for stop-payment
        found.append((origin[match.start(1)], origin[match.end(1) - 1] + 1, "bank_card"))

    kinds: list[str] = []
    out: list[str] = []
    position = 0
    for start, end, kind in sorted(found, key=lambda f: (f[0], -f[1])):  # the longest first
        if start < position:  # inside a secret already masked (an ID number is also 18 digits)
            continue
        out.append(text[position:start])
        out.append(MASKS[kind])
        position = end
        if kind not in kinds:
            kinds.append(kind)
    out.append(text[position:])
    return Masked(text="".join(out), kinds=tuple(kinds))


def contains_mask(text: str) -> tuple[str, ...]:
    """The kinds of placeholder already present in ``text`` (masked earlier by a channel)."""
    return tuple(kind for kind, mask in MASKS.items() if mask in (text or ""))
