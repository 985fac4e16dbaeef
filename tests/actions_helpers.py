"""Build rasa_sdk trackers for action tests, the way the Rasa server sends them."""
from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher


def tracker_for(
    text: str,
    intent: str,
    slots: dict[str, Any] | None = None,
    channel: str = "rest",
    faq_key: str | None = None,
) -> Tracker:
    latest = {"text": text, "intent": {"name": intent, "confidence": 0.95}, "entities": []}
    if faq_key:
        latest["response_selector"] = {
            "faq": {"response": {"intent_response_key": f"faq/{faq_key}", "confidence": 0.9}}
        }
    events = [{"event": "user", "text": text, "parse_data": latest, "input_channel": channel}]
    return Tracker("tester", slots or {}, latest, events, False, None, {}, "action_listen")


def texts(dispatcher: CollectingDispatcher) -> str:
    return "\n".join(m.get("text") or m.get("response") or "" for m in dispatcher.messages)


def slot_events(events: list[dict[str, Any]]) -> dict[str, Any]:
    return {e["name"]: e["value"] for e in events if e.get("event") == "slot"}
