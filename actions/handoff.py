"""Handing a conversation to a person, and call-back requests when nobody can take it.

``action_handoff`` is reached by asking (request_human), by despair (emergency numbers first),
by two fallbacks in a row (actions/fallback.py) and by money moving now at high risk
(actions/report.py); those two set the slot ``handoff_trigger`` and follow up with this action.

- Phone line: the bot gives 96110/110 and the handoff payload; the voice channel dials the duty
  desk (and records a call-back when nobody answers). No ticket, no pause.
- Channels an agent's reply reaches (bot.services.handoff.DESK_CHANNELS: web chat, WeChat), on duty: a
  ticket for the agent console (bot/services/handoff.py) with who, channel, reason, scam type and risk,
  the report so far and the last turns; the resident is told where they are going, why and what
  to do meanwhile; the conversation is paused (ConversationPaused) until an agent hands it back
  or closes it, or nobody claims it in time.
- Other channels (REST): no ticket nobody could answer; 110/96110 and a call-back offer.
- Outside duty hours, or when the ticket cannot be stored: 110/96110 and a call-back offer.

Call-back requests are capped per day per client and per phone number (bot/services/daily_limits.py).

Wording: knowledge/handoff.yml and knowledge/contacts.yml.
"""
from __future__ import annotations

import logging
import re
from datetime import datetime, timezone
from functools import lru_cache
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ConversationPaused, EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot.services.handoff import DESK_CHANNELS, LAST_TURNS, HandoffSettings, TicketStore
from bot.services.reports.errors import StorageError
from knowledge.handoff import handoff_texts

from .common import client_of, contact_line, daily_limiter, knowledge, on_voice, report_store

log = logging.getLogger(__name__)

TRIGGER_SLOT = "handoff_trigger"  # set by the actions that escalate on their own
REASON_SLOT = "handoff_reason"  # the last handoff's reason, for a call-back request
INTENT_REASONS = {"despair": "despair", "request_human": "request"}
# Channels whose output understands the {"handoff": …} custom payload.
PAYLOAD_CHANNELS = {"voice", "wechat"}
CALLBACK_PAYLOAD = "/request_callback"
_PHONE = re.compile(r"(?<!\d)(1[3-9]\d{9}|0\d{2,3}-?\d{7,8})(?!\d)")
NOT_REPORT_SLOTS = {"report_reasked"}


@lru_cache(maxsize=1)
def settings() -> HandoffSettings:
    return HandoffSettings.from_env()


@lru_cache(maxsize=1)
def tickets() -> TicketStore:
    return TicketStore(report_store())


settings()  # wrong FANZHA_DUTY_HOURS / claim timeout: the action server stops at start with the reason


def handoff_reason(tracker: Tracker) -> str:
    trigger = tracker.get_slot(TRIGGER_SLOT)
    if trigger in handoff_texts().reasons:
        return trigger
    intent = (tracker.latest_message.get("intent") or {}).get("name")
    return INTENT_REASONS.get(intent, "request")  # type: ignore[arg-type]  # no intent: "request"


def report_so_far(tracker: Tracker) -> dict[str, Any]:
    return {
        name: value
        for name, value in tracker.slots.items()
        if name.startswith("report_") and name not in NOT_REPORT_SLOTS and value not in (None, "", [])
    }


def last_turns(tracker: Tracker, count: int = LAST_TURNS) -> list[dict[str, str]]:
    turns = []
    for event in tracker.events:
        if event.get("event") in ("user", "bot") and (event.get("text") or "").strip():
            turns.append({"from": event["event"], "text": event["text"]})
    return turns[-count:]


def official_numbers(dispatcher: CollectingDispatcher, tracker: Tracker) -> None:
    dispatcher.utter_message(text=contact_line("police_110", tracker))
    dispatcher.utter_message(text=contact_line("antifraud_96110", tracker))


def offer_callback(dispatcher: CollectingDispatcher, tracker: Tracker, offer: str | None = None) -> None:
    texts = handoff_texts()
    official_numbers(dispatcher, tracker)
    dispatcher.utter_message(
        text=offer or texts.callback_offer, buttons=[{"title": texts.callback_button, "payload": CALLBACK_PAYLOAD}]
    )


def _summary(reason: str, tracker: Tracker) -> str:
    """One line for the duty officer (read to them on the phone line)."""
    parts = [handoff_texts().reasons[reason].label]
    scam_type = tracker.get_slot("scam_type")
    if scam_type in knowledge().scam_types:
        parts.append(knowledge().scam_types[scam_type].name)
    return "，".join(parts)


class ActionHandoff(Action):
    def name(self) -> str:
        return "action_handoff"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        texts = handoff_texts()
        reason = handoff_reason(tracker)
        events: list[EventType] = [SlotSet(TRIGGER_SLOT, None), SlotSet(REASON_SLOT, reason)]
        channel = tracker.get_latest_input_channel() or "unknown"
        if reason == "despair":
            dispatcher.utter_message(text=texts.despair_first)
        if on_voice(tracker):
            dispatcher.utter_message(text=contact_line("police_110", tracker))
            dispatcher.utter_message(text=contact_line("antifraud_96110", tracker))
            dispatcher.utter_message(json_message={"handoff": {"summary": _summary(reason, tracker)}})
            return events
        now = datetime.now(timezone.utc)
        if not settings().duty_hours.on_duty(now):
            dispatcher.utter_message(text=texts.off_duty.format(hours=settings().duty_hours.text))
            offer_callback(dispatcher, tracker)
            return events
        if channel not in DESK_CHANNELS:
            log.info("handoff: no ticket from %s, where no agent's reply can reach (%s)", channel, reason)
            dispatcher.utter_message(text=texts.no_desk.format(why=texts.reasons[reason].why))
            offer_callback(dispatcher, tracker, texts.no_desk_callback)
            return events
        try:
            ticket = tickets().open_ticket(
                sender=tracker.sender_id,
                channel=channel,
                reason=reason,
                scam_type=tracker.get_slot("scam_type"),
                risk=tracker.get_slot("risk"),
                report=report_so_far(tracker),
                turns=last_turns(tracker),
            )
        except StorageError:
            log.exception("handoff: the ticket could not be stored")
            dispatcher.utter_message(text=texts.no_agent)
            official_numbers(dispatcher, tracker)
            return events
        log.info("handoff: ticket %d opened (%s, %s)", ticket.id, reason, channel)
        dispatcher.utter_message(text=texts.connecting.format(why=texts.reasons[reason].why))
        dispatcher.utter_message(text=texts.while_waiting)
        if reason == "money_moving" or tracker.get_slot("risk") == "high":
            dispatcher.utter_message(text=texts.while_waiting_money)
        if channel in PAYLOAD_CHANNELS:
            dispatcher.utter_message(json_message={"handoff": {"summary": _summary(reason, tracker)}})
        return events + [ConversationPaused()]


def phone_in(tracker: Tracker) -> str | None:
    for entity in tracker.latest_message.get("entities") or []:
        if entity.get("entity") == "phone_number" and _PHONE.search(str(entity.get("value") or "")):
            return _PHONE.search(str(entity["value"])).group(1)
    match = _PHONE.search(tracker.latest_message.get("text") or "")
    return match.group(1) if match else None


class ActionRequestCallback(Action):
    """Store a call-back request (ReportStore.request_callback), with the phone number if given."""

    def name(self) -> str:
        return "action_request_callback"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        texts = handoff_texts()
        reason = tracker.get_slot(REASON_SLOT) if tracker.get_slot(REASON_SLOT) in texts.reasons else "request"
        phone = phone_in(tracker)
        channel = tracker.get_latest_input_channel() or "unknown"
        try:
            if not daily_limiter().allow("callback", client=client_of(tracker), number=phone):
                log.info("handoff: a call-back request over today's limit was refused (%s)", channel)
                dispatcher.utter_message(text=texts.callback_limited)
                official_numbers(dispatcher, tracker)
                return []
            report_store().request_callback(
                sender=tracker.sender_id,
                channel=channel,
                reason=f"handoff: {texts.reasons[reason].label}",
                phone=phone,
            )
        except StorageError:
            log.exception("handoff: the call-back request could not be stored")
            dispatcher.utter_message(text=texts.callback_failed)
            return []
        dispatcher.utter_message(text=texts.callback_recorded if phone else texts.callback_recorded_no_phone)
        return []
