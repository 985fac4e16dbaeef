"""The report form's actions: answers validated once, reports stored, summaries given."""
from __future__ import annotations

from typing import Any, Iterator

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions import common
from actions.report_form import ActionAbandonReport, ActionSubmitReport, ValidateReportForm
from bot.services.reports.store import ReportStore
from knowledge.case_summary import SKIPPED, field_keys
from tests.actions_helpers import slot_events, texts

FIELDS = field_keys()
DOMAIN: dict[str, Any] = {
    "forms": {"report_form": {"required_slots": [f"report_{k}" for k in FIELDS]}},
    "slots": {f"report_{k}": {"type": "text"} for k in FIELDS},
}


@pytest.fixture()
def store(tmp_path, monkeypatch) -> Iterator[ReportStore]:
    """Reports go to a database of the test's own; the action server's store is rebuilt."""
    monkeypatch.setenv("FANZHA_DATABASE_URL", f"sqlite:///{tmp_path / 'reports.db'}")
    monkeypatch.setenv("FANZHA_REPORT_KEY", _key())
    monkeypatch.setenv("FANZHA_REPORT_QUEUE", str(tmp_path / "queue"))
    common.report_store.cache_clear()
    common.report_queue.cache_clear()
    yield common.report_store()
    common.report_store().close()
    common.report_store.cache_clear()
    common.report_queue.cache_clear()


def _key() -> str:
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode()


def answering(
    slot: str, text: str, intent: str = "inform", slots: dict[str, Any] | None = None, channel: str = "rest"
) -> Tracker:
    """The tracker as Rasa sends it to the validation action after the resident answered ``slot``."""
    latest = {"text": text, "intent": {"name": intent, "confidence": 0.9}, "entities": []}
    events = [
        {"event": "user", "text": text, "parse_data": latest, "input_channel": channel},
        {"event": "slot", "name": slot, "value": text},
    ]
    all_slots = {**(slots or {}), "requested_slot": slot, slot: text}
    return Tracker("resident", all_slots, latest, events, False, None, {"name": "report_form"}, "action_listen")


def finished(slots: dict[str, Any], channel: str = "rest", text: str = "") -> Tracker:
    latest = {"text": text, "intent": {"name": "inform", "confidence": 0.9}, "entities": []}
    events = [{"event": "user", "text": text, "parse_data": latest, "input_channel": channel}]
    return Tracker("resident", slots, latest, events, False, None, {}, "report_form")


async def validate(tracker: Tracker) -> tuple[dict[str, Any], str]:
    dispatcher = CollectingDispatcher()
    events = await ValidateReportForm().run(dispatcher, tracker, DOMAIN)
    return slot_events(events), texts(dispatcher)


async def test_an_amount_in_any_usual_form_is_kept() -> None:
    for said in ("5万", "五万元", "50,000", "5w", "3千5", "转了两次，一次2000一次8000"):
        slots, reply = await validate(answering("report_amount", said))
        assert slots["report_amount"] == said, said
        assert reply == ""


async def test_an_unclear_answer_is_asked_once_more_then_kept_as_said() -> None:
    slots, reply = await validate(answering("report_amount", "很多很多"))
    assert slots["report_amount"] is None
    assert slots["report_reasked"] == ["report_amount"]
    assert reply == "utter_reask_report_amount"

    slots, reply = await validate(answering("report_amount", "真的很多", slots={"report_reasked": ["report_amount"]}))
    assert slots["report_amount"] == "真的很多"
    assert reply == ""


async def test_dont_know_skips_the_question() -> None:
    slots, _ = await validate(answering("report_payment_channel", "/dont_know", intent="dont_know"))
    assert slots["report_payment_channel"] == SKIPPED
    slots, _ = await validate(answering("report_happened_at", "记不清了", intent="dont_know"))
    assert slots["report_happened_at"] == SKIPPED


async def test_payment_channels_become_codes() -> None:
    slots, _ = await validate(answering("report_payment_channel", "先用支付宝，后来又用手机银行转的"))
    assert slots["report_payment_channel"] == ["alipay", "bank_card"]


async def test_a_masked_code_is_warned_about_and_never_kept(knowledge) -> None:
    slots, reply = await validate(answering("report_amount", "我把验证码〔验证码已隐去〕告诉他了 转了两千"))
    assert "〔验证码已隐去〕" in slots["report_amount"]
    assert knowledge.procedures.sensitive_warning in reply


def _answers(**changes: Any) -> dict[str, Any]:
    answers = {
        "report_happened_at": "昨天晚上八点",
        "report_amount": "4万8",
        "report_payment_channel": ["bank_card"],
        "report_receiving_account": "对方卡号6217000011112222333",
        "report_receiving_name": "李某",
        "report_receiving_bank": "建设银行",
        "report_scammer_contact": "17012345678",
        "report_platform": "汇通国际APP",
        "report_story": "网上认识的老师带我炒股，后来提不出来",
        "scam_type": "investment",
        "risk": "high",
    }
    return {**answers, **changes}


async def test_a_finished_report_is_stored_and_summarised(store: ReportStore, knowledge) -> None:
    dispatcher = CollectingDispatcher()
    events = await ActionSubmitReport().run(dispatcher, finished(_answers()), DOMAIN)
    slots = slot_events(events)
    reference = slots["report_reference"]
    stored = store.get_report(reference)
    assert stored.status == "finished"
    assert stored.scam_type == "investment"
    assert stored.fields["amount"] == "4万8"
    assert stored.sender == "resident"
    said = texts(dispatcher)
    assert reference in said
    assert "110" in said
    assert knowledge.procedures.recovery_warning in said
    # The answers are forgotten once stored: the next report starts empty.
    assert all(slots[f"report_{k}"] is None for k in FIELDS)


async def test_the_checklist_follows_the_payment_channel(store: ReportStore) -> None:
    said = {}
    for channel in ("alipay", "bank_card"):
        dispatcher = CollectingDispatcher()
        await ActionSubmitReport().run(dispatcher, finished(_answers(report_payment_channel=[channel])), DOMAIN)
        said[channel] = [m for m in dispatcher.messages if m.get("response") == "utter_report_evidence"][0]["evidence"]
    assert said["alipay"] != said["bank_card"]
    assert "支付宝" in said["alipay"]


async def test_on_voice_the_summary_is_short(store: ReportStore) -> None:
    dispatcher = CollectingDispatcher()
    await ActionSubmitReport().run(dispatcher, finished(_answers(), channel="voice"), DOMAIN)
    summary = dispatcher.messages[0]["text"]
    assert len(summary) <= 180  # about 45 seconds read aloud
    assert "17012345678" not in summary  # numbers are read digit by digit, not as one figure


@pytest.fixture()
def database_down(tmp_path, monkeypatch) -> Iterator[None]:
    """The database "file" is a folder: SQLite cannot open it."""
    monkeypatch.setenv("FANZHA_DATABASE_URL", f"sqlite:///{tmp_path}")
    monkeypatch.setenv("FANZHA_REPORT_KEY", _key())
    monkeypatch.setenv("FANZHA_REPORT_QUEUE", str(tmp_path / "queue"))
    monkeypatch.setattr("actions.report_form.report_retrier", lambda: _NoRetry())
    common.report_store.cache_clear()
    common.report_queue.cache_clear()
    yield
    common.report_store.cache_clear()
    common.report_queue.cache_clear()


class _NoRetry:
    def start(self) -> None:  # the test stores the queue itself, when it chooses
        pass


async def test_a_report_the_database_refuses_waits_on_disk_and_is_not_claimed_saved(database_down, tmp_path, monkeypatch) -> None:
    dispatcher = CollectingDispatcher()
    events = await ActionSubmitReport().run(dispatcher, finished(_answers()), DOMAIN)
    assert slot_events(events)["report_reference"] is None
    assert [m.get("response") for m in dispatcher.messages].count("utter_report_queued") == 1
    assert not any(m.get("response") == "utter_report_not_saved" for m in dispatcher.messages)
    assert "110" in texts(dispatcher)  # the summary and 110 are still given
    assert len(common.report_queue().pending()) == 1

    # The database is back: the next report stores the waiting one first, each exactly once.
    monkeypatch.setenv("FANZHA_DATABASE_URL", f"sqlite:///{tmp_path / 'reports.db'}")
    common.report_store.cache_clear()
    events = await ActionSubmitReport().run(CollectingDispatcher(), finished(_answers()), DOMAIN)
    store = common.report_store()
    stored = store.reports_for_sender("resident")
    assert len(stored) == 2 and slot_events(events)["report_reference"] in {r.reference for r in stored}
    assert common.report_queue().pending() == []
    store.close()


async def test_a_report_that_cannot_be_kept_anywhere_is_not_claimed_saved(database_down, tmp_path, monkeypatch) -> None:
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("")
    monkeypatch.setenv("FANZHA_REPORT_QUEUE", str(blocked))
    common.report_queue.cache_clear()
    dispatcher = CollectingDispatcher()
    events = await ActionSubmitReport().run(dispatcher, finished(_answers()), DOMAIN)
    assert slot_events(events)["report_reference"] is None
    assert any(m.get("response") == "utter_report_not_saved" for m in dispatcher.messages)
    assert not any(m.get("response") == "utter_report_queued" for m in dispatcher.messages)


async def test_stopping_halfway_keeps_what_was_said(store: ReportStore) -> None:
    dispatcher = CollectingDispatcher()
    slots = {"report_happened_at": "今天上午", "report_amount": "两千", "scam_type": None}
    events = await ActionAbandonReport().run(dispatcher, finished(slots, text="不填了"), DOMAIN)
    assert any(e["event"] == "active_loop" and e["name"] is None for e in events)
    reference = slot_events(events)["report_reference"]
    stored = store.get_report(reference)
    assert stored.status == "abandoned"
    assert stored.fields["amount"] == "两千"
    assert [m.get("response") for m in dispatcher.messages] == ["utter_report_stopped", "utter_report_kept"]


async def test_stopping_before_any_answer_stores_nothing(store: ReportStore) -> None:
    dispatcher = CollectingDispatcher()
    events = await ActionAbandonReport().run(dispatcher, finished({}, text="算了"), DOMAIN)
    assert slot_events(events)["report_reference"] is None
    assert [m.get("response") for m in dispatcher.messages] == ["utter_report_stopped"]


@pytest.fixture()
def sms_set_up(twilio_api, monkeypatch) -> str:
    from tests.fake_twilio import FROM, SID, TOKEN

    monkeypatch.setenv("FANZHA_TWILIO_ACCOUNT_SID", SID)
    monkeypatch.setenv("FANZHA_TWILIO_AUTH_TOKEN", TOKEN)
    monkeypatch.setenv("FANZHA_TWILIO_FROM", FROM)
    monkeypatch.setenv("FANZHA_TWILIO_API_BASE", twilio_api)
    return twilio_api


def replying(text: str, intent: str, slots: dict[str, Any]) -> Tracker:
    latest = {"text": text, "intent": {"name": intent, "confidence": 0.9}, "entities": []}
    events = [{"event": "user", "text": text, "parse_data": latest, "input_channel": "rest"}]
    return Tracker("resident", slots, latest, events, False, None, {}, "action_listen")


async def test_without_twilio_no_sms_is_offered(store: ReportStore, monkeypatch) -> None:
    for name in ("FANZHA_TWILIO_ACCOUNT_SID", "FANZHA_TWILIO_FROM"):
        monkeypatch.delenv(name, raising=False)
    dispatcher = CollectingDispatcher()
    events = await ActionSubmitReport().run(dispatcher, finished(_answers()), DOMAIN)
    assert "sms_offered" not in slot_events(events)
    assert all(m.get("response") != "utter_offer_sms" for m in dispatcher.messages)


async def test_the_summary_goes_by_sms_to_the_number_given(store: ReportStore, sms_set_up) -> None:
    from actions.sms import ActionSendSummarySms
    from tests.fake_twilio import FakeTwilio

    dispatcher = CollectingDispatcher()
    events = await ActionSubmitReport().run(dispatcher, finished(_answers()), DOMAIN)
    slots = slot_events(events)
    assert slots["sms_offered"] is True
    assert dispatcher.messages[-1]["response"] == "utter_offer_sms"

    dispatcher = CollectingDispatcher()
    events = await ActionSendSummarySms().run(dispatcher, replying("发到138 1234 5678吧", "inform", slots), DOMAIN)
    assert slot_events(events)["sms_offered"] is False
    [sent] = FakeTwilio.received
    assert sent["form"]["To"] == "+8613812345678"
    assert slots["report_reference"] in sent["form"]["Body"]
    assert dispatcher.messages[0]["response"] == "utter_sms_sent"
    assert dispatcher.messages[0]["number"] == "+86138****5678"


async def test_no_thanks_sends_nothing(store: ReportStore, sms_set_up) -> None:
    from actions.sms import ActionSendSummarySms
    from tests.fake_twilio import FakeTwilio

    slots = {"sms_offered": True, "report_reference": "FZ-20261122-7K3Q"}
    dispatcher = CollectingDispatcher()
    events = await ActionSendSummarySms().run(dispatcher, replying("不用了", "deny", slots), DOMAIN)
    assert slot_events(events)["sms_offered"] is False
    assert FakeTwilio.received == []
    # "Yes" without a number: ask for the number, keep the offer open.
    dispatcher = CollectingDispatcher()
    events = await ActionSendSummarySms().run(dispatcher, replying("好的", "affirm", slots), DOMAIN)
    assert "sms_offered" not in slot_events(events)
    assert dispatcher.messages[0]["response"] == "utter_ask_sms_number"


async def test_a_refused_sms_is_reported_with_the_reference(store: ReportStore, sms_set_up, monkeypatch) -> None:
    from actions.sms import ActionSendSummarySms

    events = await ActionSubmitReport().run(CollectingDispatcher(), finished(_answers()), DOMAIN)
    slots = slot_events(events)
    monkeypatch.setenv("FANZHA_TWILIO_AUTH_TOKEN", "wrong-token")
    dispatcher = CollectingDispatcher()
    await ActionSendSummarySms().run(dispatcher, replying("13812345678", "inform", slots), DOMAIN)
    assert dispatcher.messages[0]["response"] == "utter_sms_failed"
    assert dispatcher.messages[0]["reference"] == slots["report_reference"]
