"""What the assistant and the duty desk say around a handoff to a person (knowledge/handoff.yml)."""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Mapping

from .loader import KNOWLEDGE_DIR, _read_yaml, _source, _template

HANDOFF_FILE = KNOWLEDGE_DIR / "handoff.yml"
REASONS = ("request", "fallback", "money_moving", "despair")


@dataclass(frozen=True)
class Reason:
    label: str  # on the console
    why: str  # to the resident


@dataclass(frozen=True)
class HandoffTexts:
    reasons: Mapping[str, Reason]
    connecting: str  # {why}
    while_waiting: str
    while_waiting_money: str
    despair_first: str
    off_duty: str  # {hours}
    no_agent: str
    callback_offer: str
    callback_button: str
    callback_recorded: str
    callback_recorded_no_phone: str
    callback_failed: str
    callback_limited: str  # today's cap reached (bot/services/daily_limits.py)
    no_desk: str  # {why}; a channel the console cannot answer on
    no_desk_callback: str
    claimed: str
    agent_says: str  # {text}
    handed_back: str
    closed: str
    outcomes: Mapping[str, str]


def load_handoff_texts(path: Path = HANDOFF_FILE) -> HandoffTexts:
    reader = _read_yaml(path)
    _source(reader)
    reasons_reader = reader.child("reasons")
    reasons = {}
    for code in REASONS:
        item = reasons_reader.child(code)
        reasons[code] = Reason(label=item.text("label"), why=item.text("why"))
    unknown = set(reasons_reader.data) - set(REASONS)
    if unknown:
        raise reasons_reader.fail(sorted(unknown)[0], f"unknown reason; the reasons are {', '.join(REASONS)}")
    outcomes_reader = reader.child("outcomes")
    outcomes = {str(code): outcomes_reader.text(code) for code in outcomes_reader.data}
    if not outcomes:
        raise reader.fail("outcomes", "must name at least one outcome")

    def plain(key: str) -> str:
        return _template(reader, key, set())

    return HandoffTexts(
        reasons=reasons,
        connecting=_template(reader, "connecting", {"why"}),
        while_waiting=plain("while_waiting"),
        while_waiting_money=plain("while_waiting_money"),
        despair_first=plain("despair_first"),
        off_duty=_template(reader, "off_duty", {"hours"}),
        no_agent=plain("no_agent"),
        callback_offer=plain("callback_offer"),
        callback_button=plain("callback_button"),
        callback_recorded=plain("callback_recorded"),
        callback_recorded_no_phone=plain("callback_recorded_no_phone"),
        callback_failed=plain("callback_failed"),
        callback_limited=plain("callback_limited"),
        no_desk=_template(reader, "no_desk", {"why"}),
        no_desk_callback=plain("no_desk_callback"),
        claimed=plain("claimed"),
        agent_says=_template(reader, "agent_says", {"text"}),
        handed_back=plain("handed_back"),
        closed=plain("closed"),
        outcomes=outcomes,
    )


@lru_cache(maxsize=1)
def handoff_texts() -> HandoffTexts:
    return load_handoff_texts()
