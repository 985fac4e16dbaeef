"""What a phone number's shape and the words around it say: an official hotline or 110, a
number from abroad, a virtual-operator range, a "客服" whose number is not the institution's.
The numbers and words are in official_numbers.yml and indicators.yml."""
from __future__ import annotations

import re
from functools import lru_cache

from .indicator_rules import IndicatorRules, Institution, OfficialNumber, Reason

_MOBILE = re.compile(r"1[3-9]\d{9}")
# A short number followed by a unit is an amount, a room or a date, not a phone number.
_NOT_A_NUMBER_AFTER = r"(?!\s?(?:[元块万千百亿%％室层楼米岁年月日天个次分秒度斤期位条件张台份克]|号(?!码)))"


@lru_cache(maxsize=4)
def phone_pattern(rules: IndicatorRules) -> re.Pattern[str]:
    short = "|".join(sorted((n for n in rules.numbers if len(n) <= 6), key=len, reverse=True))
    return re.compile(
        r"(?<![\d*+.])(?:"
        r"(?:(?:\+|00)\d{1,4}|1[3-9]\d|[48]00)(?=\s?开头)"  # "00852开头的号码", "170开头": a prefix only
        r"|"
        # +852 5123 8876, +86 138 1234 5678, +95 9 123 456 789, +1 (202) 555-0143
        r"(?:\+|00)\s?\d{1,4}(?:[\s\-]?\(\d{1,5}\)|[\s\-]\d)?(?:[\s\-]\d{2,11}){1,6}"
        r"|\+\d{5,15}|00\d{7,15}"  # +85251238876, +95588…, 0085212345678
        r"|(?:86[\s\-]?)?1[3-9]\d(?:[\s\-]?\d){8}"  # 138 1234 5678
        r"|\(?0\d{2,3}\)?[\s\-]?96110"  # 0571-96110: the local 96110
        r"|\(?0\d{2,3}\)?[\s\-]?\d{3,4}[\s\-]?\d{4}"  # 0571-8888 9999
        r"|[48]00(?:[\s\-]?\d){7}"  # 400-820-8820
        rf"|(?:9[56]\d{{3,6}}|{short}){_NOT_A_NUMBER_AFTER}"  # 95588, 110
        r")(?![\d*])"
    )


def official_entry(value: str, rules: IndicatorRules) -> OfficialNumber | None:
    """The official number ``value`` is, also with a local area code where that is how it
    calls (0571-96110)."""
    entry = rules.numbers.get(value)
    if entry:
        return entry
    for area in (3, 4):
        if value.startswith("0") and len(value) > area:
            entry = rules.numbers.get(value[area:])
            if entry and entry.area_code_allowed:
                return entry
    return None


def claimed_institution(context: str, rules: IndicatorRules) -> Institution | None:
    """The institution named first in the sentence ("他说是建行客服，让我转到工行": 建行)."""
    named = [(context.find(name), i) for i in rules.institutions for name in i.names if name in context]
    return min(named, key=lambda n: n[0])[1] if named else None


def _country(value: str, rules: IndicatorRules) -> str:
    digits = value[2:]
    code = next((digits[:n] for n in (3, 2, 1) if digits[:n] in rules.countries), None)
    return f"+{code}，{rules.countries[code]}" if code else f"+{digits[:3]}…"


def _shape(value: str, rules: IndicatorRules) -> str:
    if value.startswith("00"):  # the risk list's form of "+852 …" and "00852 …"
        return "foreign"
    if _MOBILE.fullmatch(value):
        return "mobile"
    if len(value) == 10 and value[:3] in rules.business_prefixes:
        return "business"
    if value.startswith("0"):
        return "landline"
    return "service"  # 95xxx, 96xxx and other short numbers


def phone_reasons(value: str, context: str, rules: IndicatorRules) -> list[Reason]:
    """Why ``value`` (normalised) deserves a remark; ``context`` is the normalised sentence
    it stands in, which says whom the caller claims to be."""
    entry = official_entry(value, rules)
    claimed = claimed_institution(context, rules)
    if entry:
        code = "emergency_number" if entry.emergency else "official_hotline"
        reasons = [Reason(code, {"name": entry.name}, entry.says, entry.voice)]
        if claimed and entry.institution and entry.institution != claimed.id:  # "自称农行客服" on BOC's 95566
            reasons.append(Reason("not_official_hotline", {"name": claimed.name}))
        return reasons

    shape = _shape(value, rules)
    service = any(word in context for word in rules.customer_service_words)
    reasons = []
    posing = None
    if shape == "foreign":
        country = _country(value, rules)
        posing = next((n for n in rules.numbers.values()
                       if len(n.number) >= 5 and not n.emergency and value[2:].startswith(n.number)), None)
        if posing:
            reasons.append(Reason("foreign_posing_official", {"country": country, "name": posing.name}))
        else:
            reasons.append(Reason("foreign_prefix", {"country": country}))
    prefix_only = len(value) == 3  # "170开头的号码"
    if (shape == "mobile" or prefix_only) and value[:3] in rules.virtual_prefixes:
        reasons.append(Reason("virtual_operator", {"prefix": value[:3]}))
    if shape == "business" or (prefix_only and value in rules.business_prefixes):
        reasons.append(Reason("business_number", {}))
    # A named institution: its 客服 on another number, or a service-style number that is not its.
    if claimed and not posing and (service or shape in ("service", "business", "foreign")):
        reasons.append(Reason("not_official_hotline", {"name": claimed.name}))
    elif service and shape == "mobile":
        reasons.append(Reason("personal_number_as_official", {}))
    if any(word in context for word in rules.authority_words):
        reasons.append(Reason("claims_authority", {}))
    return reasons
