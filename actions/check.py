"""action_check_scam: run the checker on what the resident described, ask up to three
follow-up questions when the answer is unclear, then give the verdict and what to do."""
from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot.services.reports.errors import StorageError
from knowledge.checker import Verdict
from knowledge.lookup_answers import raised_risk

from .common import checker, contact_line, knowledge, masked_kinds, numbered, on_voice, report_store, warn_if_masked
from .lookup import looked_up_in, speaker

logger = logging.getLogger(__name__)

MAX_FOLLOW_UPS = 3
MAX_CASE_CHARS = 4000
ANSWERS = {"affirm", "deny", "dont_know"}
# Intents that add to the case being checked instead of starting a new one.
ADDS_TO_CASE = {"inform", "check_situation"}
# The level in words: an emoji mark showed as an empty box on phones without a colour-emoji font.
# The web widget colours the bubble from the words after "风险等级：" (bot/channels/web/assets/static/chat.js).
RISK_WORDS = {"high": "高风险", "medium": "中风险", "low": "低风险"}


class ActionCheckScam(Action):
    def name(self) -> str:
        return "action_check_scam"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        text = tracker.latest_message.get("text") or ""
        pending = bool(tracker.get_slot("check_pending"))
        case_text = tracker.get_slot("case_text") or ""
        confirmed = list(tracker.get_slot("check_confirmed") or [])
        asked = list(tracker.get_slot("check_asked") or [])

        if pending and intent in ANSWERS:
            if intent == "affirm" and tracker.get_slot("check_question"):
                confirmed.append(tracker.get_slot("check_question"))
        elif pending or (intent in ADDS_TO_CASE and case_text):
            case_text = f"{case_text}\n{text}"[-MAX_CASE_CHARS:]
        else:  # a new case
            case_text, confirmed, asked = text[-MAX_CASE_CHARS:], [], []

        warn_if_masked(dispatcher, tracker)
        if intent == "check_contact":
            return answer_look_up(dispatcher, tracker, text)
        if not case_text.strip():
            dispatcher.utter_message(response="utter_please_describe")
            return [SlotSet("check_pending", False)]

        verdict = checker().check(case_text, confirmed)
        looked = looked_up_in(case_text)
        verdict = replace(verdict, risk=raised_risk(verdict.risk, looked))
        question = next((q for q in verdict.follow_up if q.confirms not in asked), None)
        if question and len(asked) < MAX_FOLLOW_UPS and verdict.risk != "high":
            dispatcher.utter_message(
                text=question.voice if on_voice(tracker) else question.ask,
                buttons=[{"title": "是", "payload": "/affirm"}, {"title": "不是", "payload": "/deny"},
                         {"title": "不清楚", "payload": "/dont_know"}],
            )
            return [
                SlotSet("case_text", case_text),
                SlotSet("check_pending", True),
                SlotSet("check_question", question.confirms),
                SlotSet("check_asked", asked + [question.confirms]),
                SlotSet("check_confirmed", confirmed),
            ]

        dispatcher.utter_message(text=describe(verdict, voice=on_voice(tracker), tracker=tracker))
        if looked:
            dispatcher.utter_message(text=speaker(tracker).message_section(looked))
        if verdict.advert:
            dispatcher.utter_message(response="utter_looks_like_advert")
        count_check(tracker, verdict.scam_type, verdict.risk)
        return [
            SlotSet("case_text", case_text),
            SlotSet("check_pending", False),
            SlotSet("check_question", None),
            SlotSet("check_asked", asked),
            SlotSet("check_confirmed", confirmed),
            SlotSet("scam_type", verdict.scam_type),
            SlotSet("risk", verdict.risk),
        ]


def answer_look_up(dispatcher: CollectingDispatcher, tracker: Tracker, text: str) -> list[EventType]:
    """"这个号码/链接靠谱吗": what each link, number and account shows and the risk list says,
    then the verdict if the words around them are themselves a warning sign. No follow-up
    questions: the resident asked about a value, not a situation."""
    say = speaker(tracker)
    looked = looked_up_in(text)
    verdict = checker().check(text)
    if looked:
        dispatcher.utter_message(text=say.contact_answer(looked))
    elif "bank_card" in masked_kinds(tracker):
        dispatcher.utter_message(text=say.texts.card_was_masked)
    else:
        dispatcher.utter_message(text=say.ask_for_value())
    # The words around the values may be a warning sign themselves ("说是公安，让我转到安全账户");
    # a flag on the value alone ("境外号码") or the classifier's guess at a short question is not.
    spans = [(item.indicator.start, item.indicator.end) for item in looked]
    words_flagged = verdict.risk != "none" and any(
        not any(start <= flag.start and flag.end <= end for start, end in spans) for flag in verdict.red_flags)
    risk = raised_risk(verdict.risk if words_flagged else "none", looked)
    if words_flagged:
        dispatcher.utter_message(text=describe(replace(verdict, risk=risk), voice=say.voice, tracker=tracker))
    elif not looked:  # an app's or a platform's name: the national app checks those
        dispatcher.utter_message(text=contact_line("antifraud_app", tracker))
    count_check(tracker, verdict.scam_type if words_flagged else None, risk)
    return [
        SlotSet("case_text", text[-MAX_CASE_CHARS:]),
        SlotSet("check_pending", False),
        SlotSet("check_question", None),
        SlotSet("check_asked", []),
        SlotSet("check_confirmed", []),
        SlotSet("scam_type", verdict.scam_type if words_flagged else None),
        SlotSet("risk", risk),
    ]


def count_check(tracker: Tracker, scam_type: str | None, risk: str) -> None:
    """Count the verdict for the trends dashboard (type, risk, channel; nothing else). A
    database that cannot count must not cost the resident the answer."""
    try:
        report_store().count_check(channel=tracker.get_latest_input_channel() or "unknown", scam_type=scam_type, risk=risk)
    except StorageError as error:
        logger.warning("check not counted for the trends: %s", error)


def describe(verdict: Verdict, voice: bool, tracker: Tracker) -> str:
    """The verdict in plain words: risk level, type, red flags in the user's words (the most
    dangerous first), what to do."""
    kb = knowledge()
    scam = kb.scam_types.get(verdict.scam_type or "")
    if verdict.risk == "none":
        lines = [f"风险等级：{verdict.risk_colour}。我没有发现明显的诈骗特征。"]
        if not voice:
            lines.append("不过，只要有人让您转账、给验证码、点链接或者共享屏幕，就先停下来核实。")
        lines.append(contact_line("antifraud_96110", tracker))
        return "\n".join(lines)

    colour = f"{verdict.risk_colour}（{RISK_WORDS[verdict.risk]}）"
    if scam:
        lines = [f"风险等级：{colour}。这很像「{scam.name}」诈骗。"]
    else:
        lines = [f"风险等级：{colour}。有可疑的地方，请小心。"]

    seen: set[str] = set()
    flags = [h for h in verdict.red_flags if not (h.flag in seen or seen.add(h.flag))]  # type: ignore[func-returns-value]  # first of each
    flags.sort(key=lambda h: h.severity != "critical")  # screen sharing, a safe account … first
    if flags:
        if voice:
            lines.append("可疑的地方有：" + "，".join(f"{h.text}" for h in flags[:3]) + "。")
        else:
            lines.append("我注意到这些可疑的地方：")
            lines.extend(f"· 「{h.text}」：{h.label}" + ("（最危险）" if h.severity == "critical" else "")
                         for h in flags[:6])
    if scam:
        lines.append(scam.official_line)
        steps = [s for s in scam.advice_not_paid if not same_point(s, scam.official_line)]
        lines.append("现在请这样做：")
        lines.append(numbered(steps[:2] if voice else steps))
    lines.append(contact_line("police_110", tracker))
    return "\n".join(lines)


def same_point(a: str, b: str) -> bool:
    """Two sentences that make the same point: the shorter shares 40% of its character
    trigrams with the other (an advice step that restates the official line, in other words)."""
    grams_a, grams_b = ({t[i : i + 3] for i in range(len(t) - 2)} for t in (a, b))
    return bool(grams_a and grams_b) and len(grams_a & grams_b) / min(len(grams_a), len(grams_b)) >= 0.4


# Build the checker and run it once when the action server loads this module, not on a
# resident's first message: the first text also loads jieba's dictionary (half a second, several
# under load, when the action guard's 2 s limit would answer "busy" instead).
checker().check("你好")
