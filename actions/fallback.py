"""action_default_fallback: not understood. Say so plainly and keep the way to 110 open; the
second time in a row, hand the conversation to a person (actions/handoff.py). A message that
holds a link, a number or an account ("这个链接能点吗 http://…") is looked up instead: whatever
the words around it, that is what the resident wants to know."""
from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, FollowupAction, SlotSet, UserUtteranceReverted
from rasa_sdk.executor import CollectingDispatcher

from knowledge.indicators import find_indicators

from .check import answer_look_up
from .common import contact_line, on_voice


class ActionDefaultFallback(Action):
    def name(self) -> str:
        return "action_default_fallback"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        text = (tracker.latest_message.get("text") or "").strip()
        if find_indicators(text):
            return answer_look_up(dispatcher, tracker, text)
        if text and previous_turn_fell_back(tracker):
            return [SlotSet("handoff_trigger", "fallback"), FollowupAction("action_handoff")]
        if not text:
            dispatcher.utter_message(response="utter_please_describe")
        else:
            dispatcher.utter_message(text="抱歉，我没太明白。能换个说法，或者把对方说的话、发来的短信直接发给我吗？")
        dispatcher.utter_message(text=contact_line("police_110", tracker))
        if not on_voice(tracker):
            dispatcher.utter_message(response="utter_capabilities")
        # Forget the unclear message so it does not steer the next prediction.
        return [UserUtteranceReverted()]


def previous_turn_fell_back(tracker: Tracker) -> bool:
    """Did the assistant answer the resident's previous message with this fallback too?"""
    users = 0
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            users += 1
            if users == 2:
                return False
        elif users == 1 and event.get("event") == "action" and event.get("name") == "action_default_fallback":
            return True
    return False
