"""Links, phone numbers and accounts in a message, each with what its shape says.

``find_indicators`` pulls them from any text a resident sends (typed, or read from a
screenshot) and checks each against the reviewer-facing rules: look-alike domains, short
links and installers (indicator_links.py), numbers from abroad, virtual ranges and "客服"
numbers that are not the institution's (indicator_phones.py), accounts called "safe" (here).
Nothing here calls a value safe: an official domain or hotline is "known official" only,
and a value with no finding has nothing visible in its shape, which is all that can be said.
"""
from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass
from functools import lru_cache
from typing import Iterator

from .indicator_links import link_pattern, link_reasons, official_category, trim_link
from .indicator_phones import phone_pattern, phone_reasons
from .indicator_rules import IndicatorRules, Reason, indicator_rules
from .indicator_values import TextView, mask_account, split_link, stored_form, text_view
from .normalise import default_normaliser

KINDS = ("link", "phone", "account")
_SENTENCE_END = re.compile(r"[。！？!?\n；;]")
# An 18-character ID number (masked by the channels anyway) is not a bank card.
_ID_NUMBER = re.compile(r"\d{6}(?:19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dX]")
_VERSION_BEFORE = re.compile(r"(?:版本|版本号|version|ver|v)\s*$", re.IGNORECASE)
_CARD = re.compile(r"(?<![\d*])\d(?:[ \-]?\d){15,18}(?![\d*])")


@dataclass(frozen=True)
class Finding:
    """One reason something looks risky or is known."""

    code: str
    says: str  # the plain-Chinese sentence from the YAML
    suspicious: bool
    voice: str = ""  # the short version for the phone line


@dataclass(frozen=True)
class Indicator:
    kind: str  # "link" | "phone" | "account"
    text: str  # as written in the message (accounts masked for display)
    value: str  # normalised as the risk list stores it (knowledge/risk_values.py)
    start: int
    end: int
    findings: tuple[Finding, ...]

    @property
    def suspicious(self) -> bool:
        return any(f.suspicious for f in self.findings)


@lru_cache(maxsize=4)
def _account_pattern(rules: IndicatorRules) -> re.Pattern[str]:
    words = "|".join(map(re.escape, sorted(rules.account_words + rules.payment_words, key=len, reverse=True)))
    return re.compile(
        rf"(?:{words})(?:账号|帐号|账户|帐户|号码|号)?\s*(?:是|为|:)?\s*"
        r"(?P<value>[a-z0-9._%+\-]+@[a-z0-9.\-]+\.[a-z]{2,}"  # an e-mail (an Alipay account)
        r"|(?<![\d*])\d(?:[ \-]?\d){4,24}(?![\d*])"  # digits: a card, a QQ number, a phone
        r"|[a-z][a-z0-9_\-]{5,19}(?![a-z0-9_\-]))",  # a WeChat id
        re.IGNORECASE,
    )


def _finding(reason: Reason, rules: IndicatorRules) -> Finding:
    text = rules.findings[reason.code]
    says = reason.says or text.says.format(**reason.params)
    voice = reason.voice or (text.voice.format(**reason.params) if not reason.says else reason.says)
    return Finding(reason.code, says, text.suspicious, voice)


class _Sentences:
    """The normalised sentences of a text, each made once however many values it holds."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.ends = [m.end() for m in _SENTENCE_END.finditer(text)]
        self._made: dict[tuple[int, int], str] = {}

    def around(self, start: int, end: int, sentences_before: int = 0) -> str:
        """The sentence holding text[start:end] (and as many sentences before it)."""
        index = bisect_right(self.ends, start)  # sentences that ended before the value
        begin = self.ends[index - 1 - sentences_before] if index > sentences_before else 0
        after = bisect_right(self.ends, end)  # the first sentence end after the value
        stop = self.ends[after] - 1 if after < len(self.ends) else len(self.text)
        if (begin, stop) not in self._made:
            self._made[begin, stop] = default_normaliser().text(self.text[begin:stop])
        return self._made[begin, stop]


def _spans(view: TextView, pattern: re.Pattern[str], taken: list[tuple[int, int]],
           group: int | str = 0) -> Iterator[tuple[re.Match[str], int, int]]:
    """Matches in the view that overlap nothing found before, as original (start, end)."""
    for match in pattern.finditer(view.text):
        if match.end(group) <= match.start(group):
            continue
        start, end = view.span(match.start(group), match.end(group))
        if any(start < e and s < end for s, e in taken):
            continue
        yield match, start, end


def own_official_link(text: str) -> bool:
    """Whether ``text`` starts with a link on the official domain of an institution that
    publishes only its own pages there (a bank, an operator: official_domains.yml,
    ``own_pages_only``): no unknown link, and no evidence of a scam."""
    rules = indicator_rules()
    return official_category(text, rules) in rules.own_pages_only


def find_indicators(text: str, rules: IndicatorRules | None = None) -> list[Indicator]:
    """Every link, phone number and account in ``text``, in reading order."""
    rules = rules or indicator_rules()
    view = text_view(text)
    sentences = _Sentences(text)
    found: list[Indicator] = []
    taken: list[tuple[int, int]] = []

    def add(kind: str, value: str, start: int, end: int, shown: str, reasons: list[Reason]) -> None:
        findings = tuple(_finding(r, rules) for r in reasons)
        found.append(Indicator(kind, shown, value, start, end, findings))
        taken.append((start, end))

    for match, start, end in _spans(view, link_pattern(rules), taken):
        link = trim_link(match.group(0))
        if not split_link(link)[1].strip("."):
            continue  # "http://" and nothing after it
        end = view.span(match.start(), match.start() + len(link))[1]
        if re.fullmatch(r"[\d.]+", link) and (not _valid_ip(link) or _VERSION_BEFORE.search(text, 0, start)):
            continue  # "1.2.3.400", "版本1.2.3.4": a version or a list number, not an address
        add("link", stored_form("link", link), start, end, text[start:end], link_reasons(link, rules))

    for pattern, group in ((_CARD, 0), (_account_pattern(rules), "value")):
        for match, start, end in _spans(view, pattern, taken, group):
            if _ID_NUMBER.fullmatch(re.sub(r"[ \-]", "", match.group(group))):
                continue
            context = sentences.around(start, end, sentences_before=1)
            safe = any(word in context for word in rules.safe_account_words)
            reasons = [Reason("personal_account_as_safe", {})] if safe else []
            add("account", stored_form("account", match.group(group)), start, end, mask_account(text[start:end]), reasons)

    for match, start, end in _spans(view, phone_pattern(rules), taken):
        value = stored_form("phone", match.group(0))
        add("phone", value, start, end, text[start:end], phone_reasons(value, sentences.around(start, end), rules))

    return sorted(found, key=lambda i: i.start)


def _valid_ip(link: str) -> bool:
    return all(part.isdigit() and int(part) <= 255 for part in link.split("."))
