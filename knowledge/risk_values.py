"""One way of writing a link, a phone number or an account, whichever way it was written.

The anti-fraud centre's risk list (bot/services/risklist.py) stores values in this form and looks them up
in it, so "+86 138-0013-8000", "０１３８…" and "8613800138000" are the same number, and
"HTTPS://WWW.例子.中国/pay/" the same link as "xn--fsqu00a.xn--fiqs8s/pay". Pure Python (the
``idna`` package for international domain names), so the knowledge layer can use it too.

- phone: digits only. Full-width digits, spaces, dashes, dots and brackets go; "+86", "0086"
  and a bare "86" or "0" before a mobile number go; a landline written after +86 without its trunk 0
  ("+86 10 …") gets it back; any other "+" becomes "00", so a foreign number never reads as a
  Chinese one ("+1 301…" is "001301…", not the mobile "1301…").
- account: digits only (bank card and account numbers), spaces and dashes dropped.
- link: scheme, user name ("www.bank.com@evil.example" is evil.example), "www." and default
  ports dropped; host lower-cased and IDNA (punycode) encoded; path and query kept as written,
  a trailing slash and the #fragment (never sent to the site) dropped. "[.]" reads as "."
  (lists often write links defanged).
"""
from __future__ import annotations

import ipaddress
import re
import unicodedata

import idna

KINDS = ("link", "phone", "account")
MAX_VALUE_CHARS = 2048

_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff"))
_PHONE_SEPARATORS = re.compile(r"[\s\-\u2010-\u2015\u2212.()\[\]/]+")
_MOBILE = re.compile(r"1[3-9]\d{9}")
# Area code without its trunk 0 (10 and 2x are two digits, the rest three), then 7-8 digits.
_LANDLINE_AFTER_86 = re.compile(r"(?:10|2\d|[3-9]\d\d)\d{7,8}")
_NATIONWIDE = ("400", "800")  # 400/800 service numbers have no trunk 0
_ACCOUNT_SEPARATORS = re.compile(r"[\s\-\u2010-\u2015\u2212]+")
_SCHEME = re.compile(r"^(?:[a-z][a-z0-9+.\-]*:)?//", re.IGNORECASE)
_DEFANGED_SCHEME = re.compile(r"^hxxp(s?)", re.IGNORECASE)
_DEFAULT_PORTS = {"80", "443"}
_SPACE = re.compile(r"\s")
_IP_LIKE = re.compile(r"[\d.]+|\[[\da-f:.]+\]", re.IGNORECASE)
# Plain ASCII letters, digits and inner hyphens: UTS 46 only lower-cases these, so the idna
# package (about 80 µs a host) is needed only for other hosts and for punycode ("xn--") ones.
_PLAIN_HOST = re.compile(r"(?!.*--)(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,61}[a-z0-9]",
                         re.IGNORECASE)


class ValueProblem(ValueError):
    """The value is not a link, phone number or account of the kind asked for; says why."""


def normalise(kind: str, value: str) -> str:
    """``value`` in its one stored form for ``kind`` ("link", "phone" or "account").

    Raises ValueProblem with a reason a person can act on."""
    if kind not in KINDS:
        raise ValueProblem(f"the type must be one of {', '.join(KINDS)}, not {kind!r}")
    if not isinstance(value, str):
        raise ValueProblem("the value must be a text")
    if len(value) > MAX_VALUE_CHARS:
        raise ValueProblem(f"longer than {MAX_VALUE_CHARS} characters")
    # Full-width letters and digits, the ideographic space: one form for each.
    text = unicodedata.normalize("NFKC", value).translate(_INVISIBLE).strip()
    if not text:
        raise ValueProblem("empty")
    return {"link": _link, "phone": _phone, "account": _account}[kind](text)


def _phone(text: str) -> str:
    compact = _PHONE_SEPARATORS.sub("", text)
    plus = compact.startswith("+")
    digits = compact[1:] if plus else compact
    if not digits.isascii() or not digits.isdigit():
        raise ValueProblem("a phone number has only digits, spaces, dashes, brackets and a leading +")
    if plus:
        digits = "00" + digits
    if digits.startswith("0086"):
        digits = _after_country_code(digits[4:])
    elif digits.startswith("86") and _MOBILE.fullmatch(digits[2:]):
        digits = digits[2:]
    elif digits.startswith("0") and _MOBILE.fullmatch(digits[1:]):  # dialled from a landline
        digits = digits[1:]
    if not 3 <= len(digits) <= 20:
        raise ValueProblem("a phone number has 3 to 20 digits")
    return digits


def _after_country_code(national: str) -> str:
    if _LANDLINE_AFTER_86.fullmatch(national) and not national.startswith(_NATIONWIDE) and not _MOBILE.fullmatch(national):
        return "0" + national
    return national


def _account(text: str) -> str:
    digits = _ACCOUNT_SEPARATORS.sub("", text)
    if not digits.isascii() or not digits.isdigit():
        raise ValueProblem("an account has only digits (a bank card or account number), spaces and dashes")
    if not 6 <= len(digits) <= 32:
        raise ValueProblem("an account has 6 to 32 digits")
    return digits


def _link(text: str) -> str:
    if _SPACE.search(text):
        raise ValueProblem("a link has no spaces")
    text = _DEFANGED_SCHEME.sub(r"http\1", text).replace("[.]", ".")
    rest = _SCHEME.sub("", text, count=1)
    cut = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
    authority, tail = rest[:cut], rest[cut:]
    host, port = _split_port(authority.rpartition("@")[2])
    host = _host(host)
    if port and port not in _DEFAULT_PORTS:
        host = f"{host}:{port}"
    tail = tail.partition("#")[0]
    path, mark, query = tail.partition("?")
    path = path.rstrip("/")
    return host + path + (mark + query if query else "")


def _split_port(authority: str) -> tuple[str, str]:
    if authority.startswith("["):  # [IPv6]:port
        host, _, after = authority.partition("]")
        port = after[1:] if after.startswith(":") else ""
        return host + "]", port
    host, _, port = authority.partition(":")
    if port and not (port.isascii() and port.isdigit() and int(port) <= 65535):
        raise ValueProblem(f"the port {_short(port, 10)} is not a number from 0 to 65535")
    return host, port


def _host(host: str) -> str:
    host = host.rstrip(".")
    if not host:
        raise ValueProblem("a link needs a host name, e.g. example.com")
    if _PLAIN_HOST.fullmatch(host):
        encoded = host.lower()
    elif _IP_LIKE.fullmatch(host):
        return _ip(host)
    else:
        encoded = _idna(host)
    if "." not in encoded:
        raise ValueProblem("a link's host has a dot, e.g. example.com")
    return encoded[4:] if encoded.startswith("www.") and encoded.count(".") > 1 else encoded


def _idna(host: str) -> str:
    # UTS 46 as browsers apply it: case, full-width letters and "。" mapped, then punycode.
    try:
        return idna.encode(host, uts46=True).decode("ascii")
    except idna.IDNAError as error:
        raise ValueProblem(f"the host name is not valid: {error}") from None


def _ip(host: str) -> str:
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        raise ValueProblem(f"{_short(host)} is not an IP address") from None
    return f"[{address.compressed}]" if address.version == 6 else address.compressed


def _short(text: str, limit: int = 40) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "…")
