"""Reporting: money going out now, money already gone, and how to report."""
from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from .common import contact_line, knowledge, numbered, on_voice, warn_if_masked


def _story_so_far(tracker: Tracker) -> list[EventType]:
    """What the resident already told the checker answers the form's last question."""
    case_text = tracker.get_slot("case_text")
    return [SlotSet("report_story", case_text)] if case_text and not tracker.get_slot("report_story") else []


def _start_report(dispatcher: CollectingDispatcher, tracker: Tracker) -> list[EventType]:
    """The report form follows; say what it is for, unless it is already under way."""
    if tracker.active_loop_name == "report_form":
        return []
    dispatcher.utter_message(response="utter_report_intro")
    return _story_so_far(tracker)


def _steps(situation: str, tracker: Tracker) -> str:
    steps = knowledge().procedures.situations[situation]
    return numbered(steps.voice if on_voice(tracker) else steps.say)


class ActionMoneyMovingNow(Action):
    """Stop first: hang up, stop sharing, then 110 for emergency stop-payment."""

    def name(self) -> str:
        return "action_money_moving_now"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        dispatcher.utter_message(text="请先停下来，按下面做：\n" + _steps("money_moving_now", tracker))
        warn_if_masked(dispatcher, tracker)
        if tracker.get_slot("risk") == "high":
            # High risk and money moving now: a person takes over (actions/handoff.py).
            return [SlotSet("handoff_trigger", "money_moving"), FollowupAction("action_handoff")]
        return _start_report(dispatcher, tracker)


class ActionReportScammed(Action):
    """Money already gone: 110 now, before anything else; then evidence."""

    def name(self) -> str:
        return "action_report_scammed"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        dispatcher.utter_message(text="别着急，这不是您的错。先做最要紧的事：\n" + _steps("already_paid", tracker))
        warn_if_masked(dispatcher, tracker)
        if not on_voice(tracker):
            dispatcher.utter_message(text=knowledge().procedures.recovery_warning)
        return _start_report(dispatcher, tracker)


class ActionExplainReporting(Action):
    """Where and how to report, with the evidence to bring."""

    def name(self) -> str:
        return "action_explain_reporting"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        procedures = knowledge().procedures
        lines = [contact_line("police_110", tracker), contact_line("police_station", tracker)]
        if not on_voice(tracker):
            lines += ["报案时请带上：", numbered(procedures.evidence_general)]
        lines.append(contact_line("antifraud_96110", tracker))
        dispatcher.utter_message(text="\n".join(lines))
        return []
