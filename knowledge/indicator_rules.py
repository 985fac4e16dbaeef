"""Load the reviewer-facing rules for links, numbers and accounts (indicators.yml,
official_domains.yml, official_numbers.yml) into plain frozen data; a malformed file stops
loading with the file, the field and the reason."""
from __future__ import annotations

import string
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Mapping, NamedTuple

from .loader import KNOWLEDGE_DIR, _read_yaml, _Reader, _source, _template

CATEGORIES = ("bank", "payment", "ecommerce", "government", "antifraud", "operator", "airline")
# Each finding code and the placeholders its sentences must use.
FINDING_PLACEHOLDERS: Mapping[str, frozenset[str]] = {
    "official_domain": frozenset({"name"}),
    "ip_host": frozenset(),
    "userinfo_trick": frozenset(),
    "lookalike_domain": frozenset({"name"}),
    "idn_homograph": frozenset(),
    "shortener": frozenset(),
    "apk": frozenset(),
    "free_hosting": frozenset(),
    "scam_words_domain": frozenset(),
    "emergency_number": frozenset({"name"}),
    "official_hotline": frozenset({"name"}),
    "foreign_prefix": frozenset({"country"}),
    "foreign_posing_official": frozenset({"country", "name"}),
    "virtual_operator": frozenset({"prefix"}),
    "business_number": frozenset(),
    "not_official_hotline": frozenset({"name"}),
    "personal_number_as_official": frozenset(),
    "claims_authority": frozenset(),
    "personal_account_as_safe": frozenset(),
}
EMERGENCY_NUMBERS = frozenset({"110", "119", "120", "122"})


class Reason(NamedTuple):
    """What a check saw: a finding code, its placeholders, and the number's own sentence if
    official_numbers.yml gives one."""

    code: str
    params: Mapping[str, str]
    says: str = ""
    voice: str = ""


@dataclass(frozen=True)
class Brand:
    id: str
    name: str
    category: str
    names: tuple[str, ...]
    domains: tuple[str, ...]
    keywords: tuple[str, ...]


@dataclass(frozen=True)
class OfficialNumber:
    number: str
    name: str  # the institution or service
    institution: str | None  # id in institutions; None for public service numbers
    emergency: bool
    area_code_allowed: bool  # "0571-96110": the local area code before the number
    says: str  # "" = the general official_hotline / emergency_number sentence
    voice: str


@dataclass(frozen=True)
class Institution:
    id: str
    name: str
    names: tuple[str, ...]
    numbers: tuple[str, ...]


@dataclass(frozen=True)
class FindingText:
    suspicious: bool
    says: str
    voice: str


@dataclass(frozen=True, eq=False)  # hashed by identity: the compiled patterns are cached per rules
class IndicatorRules:
    brands: tuple[Brand, ...]
    government_suffixes: tuple[str, ...]
    own_pages_only: tuple[str, ...]  # categories whose official domains carry only the institution's own pages
    bare_tlds: tuple[str, ...]
    shorteners: tuple[str, ...]
    free_hosting: tuple[str, ...]
    download_extensions: tuple[str, ...]
    cheap_tlds: frozenset[str]
    scam_words: tuple[str, ...]
    virtual_prefixes: tuple[str, ...]
    business_prefixes: tuple[str, ...]
    countries: Mapping[str, str]
    customer_service_words: tuple[str, ...]
    authority_words: tuple[str, ...]
    account_words: tuple[str, ...]
    payment_words: tuple[str, ...]
    safe_account_words: tuple[str, ...]
    numbers: Mapping[str, OfficialNumber]  # number -> what it is
    institutions: tuple[Institution, ...]
    findings: Mapping[str, FindingText]


def _lower_texts(reader: _Reader, key: str) -> tuple[str, ...]:
    return tuple(t.lower() for t in reader.texts(key))


def _digits(reader: _Reader, key: str, value: str) -> str:
    if not value.isdigit():
        raise reader.fail(key, f"'{value}' must be digits only")
    return value


def _brands(path: Path) -> tuple[tuple[Brand, ...], tuple[str, ...], tuple[str, ...]]:
    reader = _read_yaml(path)
    _source(reader)
    brands = []
    for item in reader.items("brands"):
        category = item.text("category")
        if category not in CATEGORIES:
            raise item.fail("category", f"must be one of {', '.join(CATEGORIES)}")
        domains = tuple(d.lower() for d in item.texts("domains", optional=True))
        brands.append(Brand(item.ident("id"), item.text("name"), category, item.texts("names"), domains,
                            _lower_texts(item, "keywords")))
    if len({b.id for b in brands}) != len(brands):
        raise reader.fail("brands", "two brands share an id")
    own_pages_only = reader.texts("own_pages_only")
    for i, category in enumerate(own_pages_only):
        if category not in CATEGORIES:
            raise reader.fail(f"own_pages_only[{i}]", f"must be one of {', '.join(CATEGORIES)}")
    return tuple(brands), _lower_texts(reader, "government_suffixes"), own_pages_only


def _numbers(path: Path) -> tuple[dict[str, OfficialNumber], tuple[Institution, ...]]:
    reader = _read_yaml(path)
    _source(reader)
    numbers: dict[str, OfficialNumber] = {}

    def add(item: _Reader, entry: OfficialNumber) -> None:
        if entry.number in numbers:
            raise item.fail("number", f"'{entry.number}' is listed twice")
        numbers[entry.number] = entry

    for item in reader.items("public"):
        number = _digits(item, "number", item.text("number"))
        allowed = item.data.get("area_code_allowed", False)
        if not isinstance(allowed, bool):
            raise item.fail("area_code_allowed", "must be true or false")
        says = item.text("says", optional=True)
        add(item, OfficialNumber(number, item.text("name"), None, number in EMERGENCY_NUMBERS, allowed, says,
                                 item.text("voice", optional=True) or says))
    institutions = []
    for item in reader.items("institutions"):
        institution = Institution(item.ident("id"), item.text("name"), item.texts("names"),
                                  tuple(_digits(item, "numbers", n) for n in item.texts("numbers")))
        institutions.append(institution)
        for number in institution.numbers:
            add(item, OfficialNumber(number, institution.name, institution.id, False, False, "", ""))
    return numbers, tuple(institutions)


def _short_template(reader: _Reader, key: str, names: frozenset[str]) -> str:
    """An optional shorter text that may leave placeholders out, but uses no other."""
    value = reader.text(key, optional=True)
    try:
        used = {name for _, name, _, _ in string.Formatter().parse(value) if name is not None}
    except ValueError as error:
        raise reader.fail(key, f"not a valid template: {error}") from None
    if not used <= names:
        raise reader.fail(key, f"may only use {', '.join('{' + n + '}' for n in sorted(names)) or 'no placeholder'}")
    return value


def _findings(reader: _Reader) -> dict[str, FindingText]:
    block = reader.child("findings")
    unknown = set(block.data) - set(FINDING_PLACEHOLDERS)
    if unknown:
        raise block.fail(sorted(unknown)[0], "unknown finding code")
    out = {}
    for code, names in FINDING_PLACEHOLDERS.items():
        item = block.child(code)
        suspicious = item.data.get("suspicious")
        if not isinstance(suspicious, bool):
            raise item.fail("suspicious", "must be true or false")
        says = _template(item, "says", set(names))
        voice = _short_template(item, "voice", names) or says
        out[code] = FindingText(suspicious, says, voice)
    return out


def load_indicator_rules(directory: Path = KNOWLEDGE_DIR) -> IndicatorRules:
    brands, government, own_pages_only = _brands(directory / "official_domains.yml")
    numbers, institutions = _numbers(directory / "official_numbers.yml")
    reader = _read_yaml(directory / "indicators.yml")
    _source(reader)
    links, phones, accounts = reader.child("links"), reader.child("phones"), reader.child("accounts")
    countries = phones.child("countries")
    for code in countries.data:
        _digits(countries, str(code), str(code))
    for key in ("virtual_prefixes", "business_prefixes"):
        for prefix in phones.texts(key):
            _digits(phones, key, prefix)
    return IndicatorRules(
        brands=brands,
        government_suffixes=government,
        own_pages_only=own_pages_only,
        bare_tlds=_lower_texts(links, "bare_tlds"),
        shorteners=_lower_texts(links, "shorteners"),
        free_hosting=_lower_texts(links, "free_hosting"),
        download_extensions=_lower_texts(links, "download_extensions"),
        cheap_tlds=frozenset(_lower_texts(links, "cheap_tlds")),
        scam_words=_lower_texts(links, "scam_words"),
        virtual_prefixes=phones.texts("virtual_prefixes"),
        business_prefixes=phones.texts("business_prefixes"),
        countries={str(code): countries.text(code) for code in countries.data},
        customer_service_words=phones.texts("customer_service_words"),
        authority_words=phones.texts("authority_words"),
        account_words=accounts.texts("account_words"),
        payment_words=accounts.texts("payment_words"),
        safe_account_words=accounts.texts("safe_account_words"),
        numbers=numbers,
        institutions=institutions,
        findings=_findings(reader),
    )


@lru_cache(maxsize=1)
def indicator_rules() -> IndicatorRules:
    return load_indicator_rules()
