"""Offer the finished report's summary by SMS, and send it to the number the resident gives.

At most FANZHA_DAILY_PER_NUMBER texts a day to one number and FANZHA_DAILY_PER_ADDRESS from one
client (bot/services/daily_limits.py): past that, the resident is told it was not sent, with the
reference number and 110, as when Twilio refuses it."""
from __future__ import annotations

import logging
import re
from typing import Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from bot.services.reports.errors import StorageError
from bot.services.sms import SmsError, TwilioSettings, normalize_phone, send_summary_sms

from .common import REFERENCE, client_of, contact_line, daily_limiter, report_store

logger = logging.getLogger(__name__)

OFFERED = "sms_offered"
# A mobile number as people type or say it: 11 digits from 1, or + and a country code.
_PHONE = re.compile(r"(?:\+\d[\d\s\-]{7,16}\d|1[3-9]\d(?:[\s\-]?\d){8})")
_DECLINE = {"deny", "dont_know", "stop_report", "goodbye"}


def sms_configured() -> bool:
    try:
        return TwilioSettings.from_env() is not None
    except SmsError as error:  # half set up: say so in the log, do not offer
        logger.error("SMS not offered: %s", error)
        return False


def offer_sms(dispatcher: CollectingDispatcher, reference: str | None) -> list[EventType]:
    """After a stored report: offer the summary by SMS when Twilio is set up."""
    if not reference or not sms_configured():
        return []
    dispatcher.utter_message(response="utter_offer_sms")
    return [SlotSet(OFFERED, True)]


def _shown(number: str) -> str:
    """Enough of the number to recognise it, not the whole of it."""
    return number[:-8] + "****" + number[-4:]


class ActionSendSummarySms(Action):
    def name(self) -> Text:
        return "action_send_summary_sms"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        text = tracker.latest_message.get("text") or ""
        found = _PHONE.search(text)
        if intent in _DECLINE and not found:
            dispatcher.utter_message(response="utter_sms_not_sent_as_asked")
            return [SlotSet(OFFERED, False)]
        if not found:
            dispatcher.utter_message(response="utter_ask_sms_number")
            return []
        reference = tracker.get_slot(REFERENCE)
        try:
            number = normalize_phone(found.group(0))
            if not daily_limiter().allow("sms", client=client_of(tracker), number=number):
                logger.info("summary SMS over today's limit, not sent")
                dispatcher.utter_message(response="utter_sms_failed", reference=reference)
                dispatcher.utter_message(text=contact_line("police_110", tracker))
                return [SlotSet(OFFERED, False)]
            report = report_store().get_report(reference)
            sent = send_summary_sms(number, report.reference, report.fields, report.scam_type)
        except (SmsError, StorageError) as error:
            logger.error("summary SMS not sent: %s", error)
            dispatcher.utter_message(response="utter_sms_failed", reference=reference)
            return [SlotSet(OFFERED, False)]
        if sent is None:
            dispatcher.utter_message(response="utter_sms_failed", reference=reference)
        else:
            dispatcher.utter_message(response="utter_sms_sent", number=_shown(sent.to))
        return [SlotSet(OFFERED, False)]
