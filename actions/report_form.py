"""The report form: validate each answer, then store the report and give the case summary.

The words live in knowledge/ (procedures.yml, scam types) and bot/domain/report_form.yml;
understanding an answer is knowledge.report_answers; storing it is bot.services.reports.store.
"""
from __future__ import annotations

import logging
from typing import Any, Text

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import ActiveLoop, EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from bot.services.reports.errors import StorageError
from bot.services.reports.store import ABANDONED, FINISHED
from knowledge.case_summary import TEXT, VOICE, build_case_texts, field_keys, is_given
from knowledge.report_answers import understand

from .common import (
    REFERENCE,
    contact_line,
    knowledge,
    numbered,
    on_voice,
    report_queue,
    report_retrier,
    report_store,
    warn_if_masked,
)
from .sms import offer_sms

logger = logging.getLogger(__name__)

FORM = "report_form"
SLOT_PREFIX = "report_"
REASKED = "report_reasked"
# What _store returns for a report that waits on disk for the database (no reference yet).
QUEUED = "queued"


def slot_name(key: str) -> str:
    return SLOT_PREFIX + key


def collected_fields(tracker: Tracker) -> dict[str, Any]:
    """The answers so far, keyed as in procedures.yml (happened_at, amount, …)."""
    return {key: tracker.get_slot(slot_name(key)) for key in field_keys(knowledge())}


def cleared_slots() -> list[EventType]:
    """Forget the answers once stored, so a second report starts empty."""
    return [SlotSet(slot_name(key), None) for key in field_keys(knowledge())] + [SlotSet(REASKED, None)]


def _channel_kind(tracker: Tracker) -> str:
    return VOICE if on_voice(tracker) else TEXT


class ValidateReportForm(FormValidationAction):
    """Keep an answer that makes sense; ask once more with an example; then move on.

    One ``validate_report_<key>`` method per form field is added below the class.
    """

    def name(self) -> Text:
        return "validate_report_form"

    async def validate_answer(
        self, key: str, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker
    ) -> dict[Text, Any]:
        slot = slot_name(key)
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        answer = understand(key, "不知道" if intent == "dont_know" else str(value))
        if warn_if_masked(dispatcher, tracker):
            return {slot: answer.value}  # the masked text is kept; the secret never was
        reasked = list(tracker.get_slot(REASKED) or [])
        if answer.understood or slot in reasked:
            return {slot: answer.value}
        dispatcher.utter_message(response=f"utter_reask_{slot}")
        return {slot: None, REASKED: reasked + [slot]}


def _validator(key: str) -> Any:
    async def validate(
        self: ValidateReportForm, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[Text, Any]:
        return await self.validate_answer(key, value, dispatcher, tracker)

    return validate


for _key in field_keys(knowledge()):
    setattr(ValidateReportForm, f"validate_{slot_name(_key)}", _validator(_key))


class ActionSubmitReport(Action):
    """Store the finished report, then give the summary, the evidence checklist, the warning."""

    def name(self) -> Text:
        return "action_submit_report"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        fields = collected_fields(tracker)
        scam_type = tracker.get_slot("scam_type")
        outcome = _store(tracker, fields, FINISHED)
        reference = None if outcome in (None, QUEUED) else outcome
        texts = build_case_texts(fields, scam_type, _channel_kind(tracker), reference, knowledge())
        dispatcher.utter_message(text=texts.summary)
        if outcome == QUEUED:
            dispatcher.utter_message(response="utter_report_queued")
        elif outcome is None:
            dispatcher.utter_message(response="utter_report_not_saved")
        evidence = "；".join(texts.evidence) if on_voice(tracker) else numbered(texts.evidence)
        dispatcher.utter_message(response="utter_report_evidence", evidence=evidence)
        dispatcher.utter_message(text=texts.recovery_warning)
        dispatcher.utter_message(text=contact_line("police_110", tracker))
        return [*cleared_slots(), SlotSet(REFERENCE, reference), *offer_sms(dispatcher, reference)]


class ActionAbandonReport(Action):
    """The resident stops halfway: keep what was said, stop asking, repeat what matters."""

    def name(self) -> Text:
        return "action_abandon_report"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        fields = collected_fields(tracker)
        reference = None
        if any(is_given(value) for value in fields.values()):
            outcome = _store(tracker, fields, ABANDONED)
            reference = None if outcome == QUEUED else outcome
        dispatcher.utter_message(response="utter_report_stopped")
        if reference:
            dispatcher.utter_message(response="utter_report_kept", reference=reference)
        return [ActiveLoop(None), SlotSet("requested_slot", None), *cleared_slots(), SlotSet(REFERENCE, reference)]


def _store(tracker: Tracker, fields: dict[str, Any], status: str) -> str | None:
    """Save the report and return its reference; QUEUED when the database could not take it
    and it waits on disk (bot/services/report_queue.py); None when it could not be kept at all. The
    caller must not claim a report was saved unless it has a reference."""
    report = dict(
        channel=tracker.get_latest_input_channel() or "unknown",
        scam_type=tracker.get_slot("scam_type"),
        risk=tracker.get_slot("risk"),
        status=status,
        sender=tracker.sender_id,
    )
    try:
        store = report_store()
        report_queue().flush(store)  # older reports first
        return store.save_report(fields, **report).reference
    except StorageError as error:
        logger.error("report not stored: %s", error)
    try:
        report_queue().put(fields, **report)
    except StorageError as error:
        logger.error("report not kept either: %s", error)
        return None
    report_retrier().start()
    return QUEUED
