"""action_warn_sensitive: the resident typed a secret; it was masked, now tell them why."""
from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher

from .common import contact_line, knowledge


class ActionWarnSensitive(Action):
    def name(self) -> str:
        return "action_warn_sensitive"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        dispatcher.utter_message(text=knowledge().procedures.sensitive_warning)
        dispatcher.utter_message(text=contact_line("bank_hotline", tracker))
        return []
