"""action_handoff: the resident wants a person."""
from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher

from .common import contact_line


class ActionHandoff(Action):
    """Until live agents are connected, point to the people who answer 96110 and 110."""

    def name(self) -> str:
        return "action_handoff"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        dispatcher.utter_message(text=contact_line("antifraud_96110", tracker))
        dispatcher.utter_message(text=contact_line("police_110", tracker))
        return []
