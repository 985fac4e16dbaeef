"""What a link's shape says: an IP address, a look-alike of an official domain, a short link,
an installer, a free host. The rules and domains are in indicators.yml and
official_domains.yml; this module only matches them."""
from __future__ import annotations

import ipaddress
import re
import unicodedata
from functools import lru_cache

from .indicator_rules import Brand, IndicatorRules, Reason
from .indicator_values import split_link

_STOP = r"\s<>\"'`，。！？、；：（）()【】「」《》\u4e00-\u9fff"
# Letters a domain label may hold: ASCII, accented Latin, Greek and Cyrillic (homographs).
_LABEL_CHAR = r"a-z0-9\u00c0-\u024f\u0370-\u03ff\u0400-\u04ff"
# Greek and Cyrillic letters drawn like Latin ones: "аlipay" with a Cyrillic а.
_CONFUSABLE = str.maketrans({
    "а": "a", "е": "e", "о": "o", "р": "p", "с": "c", "у": "y", "х": "x", "і": "i", "ј": "j", "ѕ": "s",
    "ԁ": "d", "һ": "h", "ӏ": "l", "ь": "b", "к": "k", "м": "m", "н": "h", "т": "t", "в": "b",
    "α": "a", "ε": "e", "ο": "o", "ρ": "p", "τ": "t", "υ": "u", "ν": "v", "κ": "k", "ι": "i", "χ": "x",
})
# Digits and letter pairs that stand in for letters in fake domains: "a1ipay", "icbc-cn", "rn" for "m".
_LOOKALIKE = str.maketrans("01i345789", "olleastbg")


@lru_cache(maxsize=4)
def link_pattern(rules: IndicatorRules) -> re.Pattern[str]:
    # Any ending a listed domain has is recognised too ("is.gd", "s.id": short-link services).
    listed = rules.shorteners + rules.free_hosting + tuple(d for b in rules.brands for d in b.domains)
    endings = set(rules.bare_tlds) | {domain.rsplit(".", 1)[-1] for domain in listed}
    tlds = "|".join(sorted(map(re.escape, endings), key=len, reverse=True))
    label = rf"[{_LABEL_CHAR}](?:[{_LABEL_CHAR}\-]*[{_LABEL_CHAR}])?"
    path = rf"(?:[/?#][^{_STOP}]*)?"
    return re.compile(
        rf"(?:https?|hxxps?)://[^{_STOP}]+"
        rf"|www\.[^{_STOP}]+"
        rf"|(?<![a-z0-9_@.\-/])(?:{label}\.)+(?:{tlds}|xn--[a-z0-9\-]+)(?::\d{{2,5}})?(?![{_LABEL_CHAR}\-]){path}"
        rf"|(?<![a-z0-9_.])(?:\d{{1,3}}\.){{3}}\d{{1,3}}(?::\d{{2,5}})?(?![\d.]){path}",
        re.IGNORECASE,
    )


def trim_link(text: str) -> str:
    """A link without the punctuation that ends the sentence around it."""
    return text.rstrip(".,;:!?)]}>'\"")


def _host_labels(host: str) -> tuple[list[str], bool]:
    """The host's labels as plain Latin letters, and whether it used letters of another
    script or punycode to look like them."""
    host = re.sub(r":\d+$", "", host.lower().rstrip("."))
    labels, disguised = [], False
    for label in host.split("."):
        if label.startswith("xn--"):
            try:
                label = label[4:].encode("ascii").decode("punycode")
            except UnicodeError:
                disguised = True
        if not label.isascii():
            if re.search(r"[\u0370-\u03ff\u0400-\u04ff]", label):
                disguised = True
            label = unicodedata.normalize("NFKD", label.translate(_CONFUSABLE))
            label = "".join(c for c in label if not unicodedata.combining(c))
        labels.append(label)
    return labels, disguised


def _is_under(host: str, domains: tuple[str, ...]) -> str | None:
    return next((d for d in domains if host == d or host.endswith("." + d)), None)


def _lookalike_key(text: str) -> str:
    return text.replace("rn", "m").replace("vv", "w").translate(_LOOKALIKE)


def _one_slip_apart(a: str, b: str) -> bool:
    """One letter added or dropped, or two neighbours swapped ("taoboa", "alipaay", "alpay").
    Not one letter for another: pinyin names sit one letter apart ("zaobao" and "taobao",
    "dongfang" and "donghang"), and the letters scammers swap are in the lookalike table."""
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        return len(diff) == 2 and diff[1] == diff[0] + 1 and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]]
    short, long = sorted((a, b), key=len)
    return any(long[:i] + long[i + 1 :] == short for i in range(len(long)))


def imitated_brand(labels: list[str], rules: IndicatorRules) -> Brand | None:
    """The institution a non-official host imitates, from the names in it (the top-level
    label left out): short names only as a whole word ("jd-tuikuan"), longer ones anywhere,
    with digits read as the letters they stand for ("a1ipay", "1cbc")."""
    body = labels[:-1] if len(labels) > 1 else labels
    if body and body[0] == "www":
        body = body[1:]
    tokens = [t for label in body for t in re.split(r"[\-_]", label) if t]
    joined = _lookalike_key("".join(tokens))
    best: tuple[int, Brand] | None = None
    chinese = "".join(tokens) if re.search(r"[\u4e00-\u9fff]", "".join(tokens)) else ""
    for brand in rules.brands:
        # A Chinese name as a domain ("工商银行.com", written xn--… in links) counts like a keyword.
        names = [name for name in brand.names if len(name) > 1 and name in chinese]
        for keyword in brand.keywords + tuple(names):
            if keyword in names:
                hit = True
            elif keyword == "gov":
                hit = "gov" in tokens
            elif len(keyword) <= 3:
                hit = keyword in tokens
            else:
                key = _lookalike_key(keyword)
                hit = key in joined or (len(keyword) >= 6 and any(
                    _one_slip_apart(_lookalike_key(t), key) for t in tokens))
            if hit and (best is None or len(keyword) > best[0]):
                best = (len(keyword), brand)
    return best[1] if best else None


def _foreign_government(host: str) -> bool:
    """usa.gov, www.gov.uk: another country's government, not a fake Chinese one."""
    return bool(re.search(r"(^|\.)gov(\.[a-z]{2})?$", host)) and not host.endswith("gov.cn")


def _has_word(labels: list[str], words: tuple[str, ...]) -> bool:
    body = labels[:-1]
    tokens = {t for label in body for t in re.split(r"[\-_]", label) if t}
    joined = "".join(body)
    return any(w in tokens if len(w) <= 3 else w in joined for w in words)


def _official(plain_host: str, disguised: bool, userinfo: str, rules: IndicatorRules) -> tuple[str, str] | None:
    """(name, category) of the institution whose official domain the host is, or is under."""
    if disguised or userinfo:
        return None
    official = _is_under(plain_host, tuple(d for b in rules.brands for d in b.domains))
    if official:
        brand = next(b for b in rules.brands if official in b.domains)
        return brand.name, brand.category
    if _is_under(plain_host, rules.government_suffixes):
        government = next((b for b in rules.brands if b.category == "government"), None)
        return (government.name if government else "政府机关"), "government"
    return None


def _parts(link: str) -> tuple[str, str, str, list[str], bool]:
    """(user info, host without port, path, the host's labels in Latin letters, disguised)."""
    userinfo, host, tail = split_link(link)
    bare_host = re.sub(r":\d+$", "", host.lower().rstrip("."))
    labels, disguised = _host_labels(bare_host)
    return userinfo, bare_host, tail, labels, disguised


def official_category(text: str, rules: IndicatorRules) -> str | None:
    """The kind of institution (official_domains.yml) whose official domain the link that
    ``text`` starts with is under; None for any other link, or no link."""
    match = link_pattern(rules).match(text)
    if match is None:
        return None
    userinfo, _, _, labels, disguised = _parts(trim_link(match.group(0)))
    official = _official(".".join(labels), disguised, userinfo, rules)
    return official[1] if official else None


def link_reasons(link: str, rules: IndicatorRules) -> list[Reason]:
    userinfo, bare_host, tail, labels, disguised = _parts(link)
    plain_host = ".".join(labels)
    official = _official(plain_host, disguised, userinfo, rules)
    if official:
        return [Reason("official_domain", {"name": official[0]})]

    reasons: list[Reason] = []
    try:
        address = ipaddress.ip_address(bare_host.strip("[]"))
    except ValueError:
        address = None
    # A private address (a home router's 192.168.1.1) is no web site a scammer can send.
    if address and address.is_global:
        reasons.append(Reason("ip_host", {}))
    if userinfo:
        reasons.append(Reason("userinfo_trick", {}))
    if disguised:
        reasons.append(Reason("idn_homograph", {}))
    brand = None if address else imitated_brand(labels, rules)
    if brand and not (brand.category == "government" and _foreign_government(plain_host)):
        reasons.append(Reason("lookalike_domain", {"name": brand.name}))
    if _is_under(plain_host, rules.shorteners):
        reasons.append(Reason("shortener", {}))
    if _is_under(plain_host, rules.free_hosting):
        reasons.append(Reason("free_hosting", {}))
    path = tail.split("?", 1)
    if any(re.search(rf"\.{re.escape(ext)}(?:$|[?&#/])", part, re.IGNORECASE)
           for part in path for ext in rules.download_extensions):
        reasons.append(Reason("apk", {}))
    if len(labels) > 1 and labels[-1] in rules.cheap_tlds and _has_word(labels, rules.scam_words):
        reasons.append(Reason("scam_words_domain", {}))
    return reasons
