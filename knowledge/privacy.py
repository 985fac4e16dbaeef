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
_JOIN = r"[^\d\w]{0,3}(?:是|为|：|:|号|码)?[^\d\w]{0,3}"
_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("verification_code", re.compile(r"(?:验证码|校验码|动态码|短信码|动态密码|验证号码|驗證碼)[^\d〔]{0,10}?(\d{4,8})(?!\d)")),
    ("cvv", re.compile(rf"(?:CVV2?|cvv2?|安全码|背面三位数?|卡背三位数?){_JOIN}(\d{{3,4}})(?!\d)")),
    # A password has a digit or a Latin letter: "把密码告诉他要给吗" asks about one, it gives none.
    ("password", re.compile(rf"(?:支付密码|取款密码|登录密码|交易密码|银行卡密码|密码|口令|PIN码?|pin码?|密碼){_JOIN}"
                            r"(?=[^\s，。,.;；！!？?、]*[0-9A-Za-z])([^\s，。,.;；！!？?、]{4,32})")),
    ("id_number", re.compile(r"(?<!\d)(\d{6}(?:19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dXx])(?![\dXx])")),
]
_CARD = re.compile(r"(?<!\d)((?:\d[ -]?){15,18}\d)(?!\d)")
# Words that say a card number belongs to the other side (the receiving account).
_RECEIVING = re.compile(r"(对方|收款|骗子|他的|她的|他们的|转到|转给|转入|打到|打给|汇到|汇给|对面|收钱)")


@dataclass(frozen=True)
class Masked:
    text: str
    kinds: tuple[str, ...]  # what was masked, in order of first appearance

    @property
    def changed(self) -> bool:
        return bool(self.kinds)


def mask_sensitive(text: str) -> Masked:
    """Replace secrets in ``text`` with readable placeholders such as 〔验证码已隐去〕."""
    kinds: list[str] = []

    def note(kind: str) -> None:
        if kind not in kinds:
            kinds.append(kind)

    for kind, pattern in _PATTERNS:

        def replace(match: re.Match[str], kind: str = kind) -> str:
            note(kind)
            start, end = match.span(1)
            whole = match.group(0)
            offset = match.start(0)
            return whole[: start - offset] + MASKS[kind] + whole[end - offset :]

        text = pattern.sub(replace, text)

    def replace_card(match: re.Match[str]) -> str:
        before = text[max(0, match.start() - 12) : match.start()]
        if _RECEIVING.search(before):
            return match.group(0)
        note("bank_card")
        return MASKS["bank_card"]

    text = _CARD.sub(replace_card, text)
    return Masked(text=text, kinds=tuple(kinds))


def contains_mask(text: str) -> tuple[str, ...]:
    """The kinds of placeholder already present in ``text`` (masked earlier by a channel)."""
    return tuple(kind for kind, mask in MASKS.items() if mask in (text or ""))
