"""What several actions share: the knowledge, the checker, and channel-aware wording."""
from __future__ import annotations

from functools import lru_cache
from typing import Iterable

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from bot.services.daily_limits import DailyCaps, DailyLimiter
from bot.services.report_queue import ReportQueue, Retrier
from bot.services.reports.store import ReportStore
from knowledge.checker import Checker
from knowledge.loader import Knowledge, default_knowledge
from knowledge.privacy import contains_mask

VOICE_CHANNELS = {"voice"}
# The reference number of the report stored last in this conversation.
REFERENCE = "report_reference"


def knowledge() -> Knowledge:
    return default_knowledge()


@lru_cache(maxsize=1)
def checker() -> Checker:
    return Checker(knowledge())


@lru_cache(maxsize=1)
def report_store() -> ReportStore:
    """One store per action-server process (FANZHA_DATABASE_URL or var/db/fanzha.db)."""
    return ReportStore()


@lru_cache(maxsize=1)
def report_queue() -> ReportQueue:
    """Reports waiting for the database (FANZHA_REPORT_QUEUE or var/db/report_queue/)."""
    return ReportQueue()


@lru_cache(maxsize=1)
def report_retrier() -> Retrier:
    return Retrier(report_queue(), report_store)


def daily_limiter() -> DailyLimiter:
    """Today's caps on call-backs and SMS, counted in the report database (shared by replicas)."""
    return DailyLimiter(report_store(), DailyCaps.from_env())


DailyCaps.from_env()  # a malformed FANZHA_DAILY_PER_*: the action server stops at start with the reason


def client_of(tracker: Tracker) -> str:
    """Whom the daily caps count a request against: the channel's key for the client's address
    (REST, web chat: bot/channels/client_address.py), else the sender (a WeChat openid)."""
    metadata = tracker.latest_message.get("metadata")
    notes = metadata.get("fanzha") if isinstance(metadata, dict) else None
    client = notes.get("client") if isinstance(notes, dict) else None
    return f"address:{client}" if isinstance(client, str) and client else f"sender:{tracker.sender_id}"


def on_voice(tracker: Tracker) -> bool:
    return tracker.get_latest_input_channel() in VOICE_CHANNELS


def numbered(lines: Iterable[str]) -> str:
    return "\n".join(f"{i}. {line}" for i, line in enumerate(lines, 1))


def contact_line(contact_id: str, tracker: Tracker) -> str:
    contact = knowledge().contacts[contact_id]
    return contact.voice if on_voice(tracker) else contact.say


def masked_kinds(tracker: Tracker) -> tuple[str, ...]:
    """Secrets the channel masked in the latest message."""
    return contains_mask(tracker.latest_message.get("text") or "")


def warn_if_masked(dispatcher: CollectingDispatcher, tracker: Tracker) -> bool:
    if masked_kinds(tracker):
        dispatcher.utter_message(text=knowledge().procedures.sensitive_warning)
        return True
    return False
