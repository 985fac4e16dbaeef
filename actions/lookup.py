"""Links, numbers and accounts in a message, looked up in the centre's risk list.

The risk list (bot/services/risklist.py) lives in the report database and shares the action server's
report store (one connection pool). If it cannot be read (database down, key missing), the
answer says so once and still names what the shapes show: a look-up that failed is never
reported as "not on the list".
"""
from __future__ import annotations

import logging
import re
from typing import Sequence

from rasa_sdk import Tracker

from bot.services.reports.store import ReportStore
from bot.services.risklist import RiskList
from knowledge.indicators import Indicator, find_indicators
from knowledge.lookup_answers import Looked, Speaker, lookup_texts

from .common import knowledge, on_voice, report_store

log = logging.getLogger(__name__)
# A pasted list of numbers is not a message: the first ones in reading order are looked up
# (one indexed query each), which is more than the answer names (knowledge/lookup_answers.py).
MAX_LOOKED_UP = 20
_MOBILE = re.compile(r"1[3-9]\d{9}")
_opened: list[tuple[ReportStore, RiskList]] = []  # the report store and the list on it


def risk_list() -> RiskList:
    """The risk list on this process's report store; made again if the store was replaced (as
    tests do), and tried again on the next message if it could not be opened."""
    store = report_store()
    if not _opened or _opened[0][0] is not store:
        _opened[:] = [(store, RiskList(store))]
    return _opened[0][1]


def look_up(indicators: Sequence[Indicator]) -> list[Looked]:
    """Each indicator with its risk-list entries (``hits`` None when the list could not be read).

    A payment account written as a mobile number ("支付宝账号188…") is looked up as an account
    and as a phone number: the centre may have listed it as either.
    """
    if not indicators:
        return []
    try:
        lists = risk_list()
        looked = []
        for indicator in indicators:
            hits = list(lists.lookup(indicator.kind, indicator.value))
            if indicator.kind == "account" and _MOBILE.fullmatch(indicator.value):
                hits += lists.lookup("phone", indicator.value)
            looked.append(Looked(indicator, tuple(hits)))
        return looked
    except Exception as error:  # noqa: BLE001 - the answer goes out without the list, and says so
        log.warning("risk list look-up failed: %s", type(error).__name__)
    return [Looked(indicator, None) for indicator in indicators]


def speaker(tracker: Tracker) -> Speaker:
    kb = knowledge()
    return Speaker(
        voice=on_voice(tracker),
        digit_words=kb.procedures.case_summary.voice_digits,
        scam_names={code: scam.name for code, scam in kb.scam_types.items()},
        texts=lookup_texts(),
    )


def looked_up_in(text: str) -> list[Looked]:
    return look_up(find_indicators(text)[:MAX_LOOKED_UP])
