"""The outbound warning call driven as Twilio drives it: signed form posts to the URLs the TwiML
gives, TwiML answers parsed, outcomes read back from a real warning store."""
from __future__ import annotations

import re
import uuid
from datetime import datetime, timezone
from typing import Any, Iterator
from urllib.parse import parse_qs, urlparse

import pytest
from cryptography.fernet import Fernet
from defusedxml import ElementTree
from rasa.shared.exceptions import InvalidConfigException
from sanic import Sanic
from twilio.request_validator import RequestValidator

from bot.channels.voice.channel import VoiceChannel
from bot.channels.voice.speech import read_digits, speakable
from bot.channels.voice.twiml import VoiceSettings
from bot.channels.voice.warning_calls import WarningCallFlow
from bot.services.early_warnings.call_texts import default_warning_texts
from bot.services.early_warnings.duty_desk import ENV_DUTY_NUMBER
from bot.services.early_warnings.store import NewWarning, WarningStore
from bot.services.reports.errors import StorageError
from bot.services.reports.store import ReportStore
from knowledge.dissuasion import MAX_OPENING_CHARS, MONEY_MOVING, PAID, spoken_length

TOKEN = "twilio-warning-test-token"
BASE = "https://voice.example.org"
PREFIX = "/webhooks/voice"
DUTY = "+8657100000000"
RESIDENT = "+8613812345678"
CENTRE = "+8657196110"
TEXTS = default_warning_texts()
POLICE = read_digits("110")  # 幺幺零
ANTIFRAUD = read_digits("96110")  # 九六幺幺零


def spoken(text: str) -> str:
    return speakable(text, 25).text


@pytest.fixture
def store(tmp_path, monkeypatch) -> Iterator[WarningStore]:
    monkeypatch.setenv("FANZHA_REPORT_KEY", Fernet.generate_key().decode())
    monkeypatch.delenv(ENV_DUTY_NUMBER, raising=False)
    with ReportStore(f"sqlite:///{tmp_path / 'fanzha.db'}") as reports:
        yield WarningStore(reports)


def add_warning(store: WarningStore, level: str = "red", scam_type: str | None = "impersonate_police",
                note: str = "反诈中心监测：疑似正与冒充公安人员通话") -> int:
    warning, merged = store.add(
        NewWarning(phone=RESIDENT, level=level, scam_type=scam_type, note=note, source="test",
                   received_at=datetime.now(timezone.utc)),
        actor="import:test",
    )
    assert not merged
    return warning.id


def placed_call(store: WarningStore, warning_id: int, sid: str = "CA-resident") -> int:
    event = store.start_attempt(warning_id, "call", "dispatcher:test")
    store.attempt_placed(event.id, sid)
    return event.id


class Line:
    """The voice channel mounted where Rasa mounts it, with the warning store given."""

    def __init__(self, store: WarningStore, **settings: Any) -> None:
        settings.setdefault("public_url", BASE)
        settings.setdefault("duty_number", DUTY)
        self.store = store
        self.channel = VoiceChannel(VoiceSettings(**settings), TOKEN, warning_store=lambda: store)
        self.app = Sanic(f"warning_{uuid.uuid4().hex}")
        self.app.blueprint(self.channel.blueprint(_no_bot), url_prefix=PREFIX)

    async def post(self, path: str, data: dict[str, str], sign_with: str | None = TOKEN):
        headers = {}
        if sign_with is not None:
            headers["X-Twilio-Signature"] = RequestValidator(sign_with).compute_signature(BASE + path, data)
        _, resp = await self.app.asgi_client.post(path, data=data, headers=headers)
        root = ElementTree.fromstring(resp.text) if resp.status == 200 and resp.text else None
        return resp, root

    async def twiml(self, path: str, **fields: str):
        resp, root = await self.post(path, fields)
        assert resp.status == 200, resp.text
        return root

    async def pick_up(self, warning_id: int, event_id: int | None = None, sid: str = "CA-resident", **fields: str):
        query = f"warning={warning_id}" + (f"&event={event_id}" if event_id else "")
        return await self.twiml(f"{PREFIX}/warning/call?{query}", CallSid=sid, From=CENTRE, To=RESIDENT,
                                CallStatus="in-progress", **fields)

    async def follow(self, url: str, sid: str = "CA-resident", **fields: str):
        """POST to a URL the TwiML gave, as Twilio does."""
        assert url.startswith(BASE + PREFIX + "/warning/"), url
        return await self.twiml(url[len(BASE):], CallSid=sid, From=CENTRE, To=RESIDENT, **fields)


async def _no_bot(message) -> None:  # the warning routes never ask the assistant
    raise AssertionError(f"the bot was asked: {message.text}")


def said(root) -> str:
    return "".join(say.text or "" for say in root.iter("Say"))


def action(root) -> str:
    (gather,) = root.findall("Gather")
    return gather.get("action")


def query(url: str) -> dict[str, list[str]]:
    return parse_qs(urlparse(url).query)


def hangs_up(root) -> bool:
    return root.findall("Gather") == [] and [child.tag for child in root][-1] == "Hangup"


def answers(store: WarningStore, warning_id: int) -> list[str]:
    return [event.state for event in store.events(warning_id) if event.kind == "answer"]


POLICE_TYPE = TEXTS.dissuasion.for_type("impersonate_police")


# --- the resident picks up --------------------------------------------------------------


async def test_a_person_hears_who_calls_and_why_then_the_first_question(store):
    warning_id = add_warning(store)
    event_id = placed_call(store, warning_id)
    line = Line(store)
    root = await line.pick_up(warning_id, event_id, AnsweredBy="human")
    text = said(root)
    opening = spoken(TEXTS.opening) + spoken(POLICE_TYPE.reason) + spoken(TEXTS.opening_ask)
    assert text.startswith(opening) and ANTIFRAUD in opening and "96110" not in text
    assert spoken_length(opening) <= MAX_OPENING_CHARS
    assert spoken(POLICE_TYPE.questions[0].ask) in text and spoken(TEXTS.keys) in text
    gather = root.find("Gather")
    assert gather.get("input") == "speech dtmf" and gather.get("numDigits") == "1"
    assert action(root).startswith(BASE + PREFIX + "/warning/answer?")
    assert query(action(root)) == {"warning": [str(warning_id)], "type": ["impersonate_police"], "step": ["0"], "retry": ["0"]}
    sentences = re.findall(r"[^。！？]+[。！？]", text)
    assert sentences and max(len(s) for s in sentences) <= 25
    event = next(e for e in store.events(warning_id) if e.id == event_id)
    assert event.state == "in-progress" and event.twilio_sid == "CA-resident"


async def test_a_machine_gets_the_voicemail_and_the_attempt_is_marked(store):
    warning_id = add_warning(store)
    event_id = placed_call(store, warning_id)
    root = await Line(store).pick_up(warning_id, event_id, AnsweredBy="machine_end_beep")
    assert said(root) == spoken(TEXTS.voicemail) and ANTIFRAUD in said(root)
    assert hangs_up(root)
    event = next(e for e in store.events(warning_id) if e.id == event_id)
    assert event.state == "machine"
    assert store.get(warning_id).status == "open"  # the dispatcher tries again


async def test_a_closed_warning_gets_the_opening_and_the_warning_but_no_questions(store):
    warning_id = add_warning(store)
    store.set_outcome(warning_id, "not_scam", "console:duty.wang")
    root = await Line(store).pick_up(warning_id, placed_call(store, warning_id))
    text = said(root)
    assert spoken(TEXTS.opening) in text and all(spoken(w) in text for w in POLICE_TYPE.warning)
    assert spoken(POLICE_TYPE.questions[0].ask) not in text and hangs_up(root)
    assert store.get(warning_id).outcome == "not_scam"


async def test_an_unknown_warning_gets_a_short_96110_message(store):
    root = await Line(store).pick_up(999)
    assert said(root) == spoken(TEXTS.unknown_warning) and ANTIFRAUD in said(root)
    assert hangs_up(root)


async def test_a_warning_without_a_type_asks_the_general_questions(store):
    warning_id = add_warning(store, level="yellow", scam_type=None)
    line = Line(store)
    root = await line.pick_up(warning_id)
    assert spoken(TEXTS.dissuasion.general.reason) in said(root)
    assert spoken(TEXTS.dissuasion.general.questions[0].ask) in said(root)
    # A merge fills in the type during the call: the answers still follow the questions asked.
    store.add(NewWarning(phone=RESIDENT, level="yellow", scam_type="investment", note="", source="test",
                         received_at=datetime.now(timezone.utc)), actor="import:test")
    assert store.get(warning_id).scam_type == "investment"
    second = await line.follow(action(root), Digits=TEXTS.no_key)
    assert spoken(TEXTS.dissuasion.general.questions[1].ask) in said(second)


# --- answers ----------------------------------------------------------------------------


async def test_yes_money_is_moving_transfers_to_the_duty_desk_with_a_whisper(store):
    warning_id = add_warning(store)
    line = Line(store, dial_timeout=25)
    first = await line.pick_up(warning_id, placed_call(store, warning_id))
    assert POLICE_TYPE.questions[0].yes_means == MONEY_MOVING
    root = await line.follow(action(first), Digits=TEXTS.yes_key)
    text = said(root)
    assert spoken(TEXTS.money_moving) in text and spoken(TEXTS.connecting) in text and POLICE in text
    assert root.findall("Gather") == []
    dial = root.find("Dial")
    assert dial.get("timeout") == "25"
    assert dial.get("action") == f"{BASE}{PREFIX}/warning/dial?warning={warning_id}&answer={MONEY_MOVING}"
    number = dial.find("Number")
    assert number.text == DUTY
    assert answers(store, warning_id) == [MONEY_MOVING]
    whisper = await line.follow(number.get("url"), sid="CA-desk")
    heard = said(whisper)
    assert "红色预警" in heard and "冒充公检法" in heard and "正在转账" in heard
    assert whisper.findall("Hangup") == [] and whisper.findall("Gather") == []
    goodbye = await line.follow(dial.get("action"), DialCallStatus="completed")
    assert said(goodbye) == spoken(TEXTS.after_desk) and hangs_up(goodbye)
    warning = store.get(warning_id)
    assert (warning.status, warning.outcome, warning.outcome_by) == ("closed", "handed_to_desk", "call")


async def test_already_paid_is_told_about_stop_payment_then_transferred(store):
    warning_id = add_warning(store)
    line = Line(store)
    root = await line.pick_up(warning_id)
    for step, question in enumerate(POLICE_TYPE.questions):
        if question.yes_means == PAID:
            root = await line.follow(action(root), SpeechResult="是的。", Confidence="0.9")
            break
        root = await line.follow(action(root), SpeechResult="没有。", Confidence="0.9")
        assert spoken(POLICE_TYPE.questions[step + 1].ask) in said(root)
    assert spoken(TEXTS.paid) in said(root) and spoken(TEXTS.money_moving) not in said(root)
    dial = root.find("Dial")
    assert dial.find("Number").text == DUTY and query(dial.get("action"))["answer"] == [PAID]
    assert answers(store, warning_id) == [PAID]
    whisper = await line.follow(dial.find("Number").get("url"), sid="CA-desk")
    assert spoken(TEXTS.answer_paid) in said(whisper)
    await line.follow(dial.get("action"), DialCallStatus="answered")
    assert store.get(warning_id).outcome == "paid_report_started"


async def test_no_to_every_question_reads_the_key_warning_and_records_dissuaded(store):
    warning_id = add_warning(store, level="orange")
    line = Line(store)
    root = await line.pick_up(warning_id)
    for step in range(len(POLICE_TYPE.questions)):
        assert query(action(root))["step"] == [str(step)]
        root = await line.follow(action(root), **({"Digits": TEXTS.no_key} if step % 2 else {"SpeechResult": "没有没有", "Confidence": "0.8"}))
    text = said(root)
    assert text == "".join(spoken(w) for w in POLICE_TYPE.warning) + spoken(TEXTS.goodbye)
    assert ANTIFRAUD in text and hangs_up(root)
    warning = store.get(warning_id)
    assert (warning.status, warning.outcome, warning.outcome_by) == ("closed", "dissuaded", "call")
    assert answers(store, warning_id) == ["no"]


async def test_silence_twice_reads_the_warning_hangs_up_and_leaves_it_open(store):
    warning_id = add_warning(store)
    line = Line(store)
    first = await line.pick_up(warning_id)
    again = await line.follow(action(first))  # Twilio posts the action on silence too
    assert said(again).startswith(spoken(TEXTS.not_heard))
    assert spoken(POLICE_TYPE.questions[0].ask) in said(again)
    assert query(action(again)) == {"warning": [str(warning_id)], "type": ["impersonate_police"], "step": ["0"], "retry": ["1"]}
    last = await line.follow(action(again), SpeechResult="我不知道", Confidence="0.9")  # not a yes or a no
    assert said(last) == "".join(spoken(w) for w in POLICE_TYPE.warning) + spoken(TEXTS.goodbye)
    assert hangs_up(last)
    assert answers(store, warning_id) == ["no_response"]
    assert store.get(warning_id).status == "open"


async def test_a_key_that_is_neither_yes_nor_no_asks_again(store):
    warning_id = add_warning(store)
    line = Line(store)
    root = await line.follow(action(await line.pick_up(warning_id)), Digits="7")
    assert said(root).startswith(spoken(TEXTS.not_heard)) and query(action(root))["retry"] == ["1"]
    assert answers(store, warning_id) == []


async def test_the_desk_not_answering_tells_the_resident_to_call_110(store):
    warning_id = add_warning(store)
    line = Line(store)
    root = await line.follow(action(await line.pick_up(warning_id)), SpeechResult="对对对", Confidence="0.9")
    after = await line.follow(root.find("Dial").get("action"), DialCallStatus="no-answer")
    assert said(after) == spoken(TEXTS.desk_no_answer) and POLICE in said(after) and hangs_up(after)
    warning = store.get(warning_id)
    assert warning.status == "open" and warning.urgent
    (error,) = [e for e in store.events(warning_id) if e.kind == "error"]
    assert (error.state, error.detail, error.actor) == ("desk_no_answer", "no-answer", "call")


async def test_an_agents_outcome_is_not_overwritten_by_the_call(store):
    warning_id = add_warning(store)
    line = Line(store)
    root = await line.follow(action(await line.pick_up(warning_id)), Digits=TEXTS.yes_key)
    store.set_outcome(warning_id, "not_scam", "console:duty.li")
    await line.follow(root.find("Dial").get("action"), DialCallStatus="completed")
    assert (store.get(warning_id).outcome, store.get(warning_id).outcome_by) == ("not_scam", "console:duty.li")


async def test_without_a_duty_number_the_resident_is_told_to_call_110(store):
    warning_id = add_warning(store)
    line = Line(store, duty_number="")
    root = await line.follow(action(await line.pick_up(warning_id)), Digits=TEXTS.yes_key)
    assert root.find("Dial") is None and hangs_up(root)
    assert spoken(TEXTS.money_moving) in said(root) and POLICE in said(root)
    assert [e.state for e in store.events(warning_id) if e.kind == "error"] == ["no_duty_number"]


async def test_a_failing_store_does_not_stop_the_transfer(store, monkeypatch):
    warning_id = add_warning(store)
    line = Line(store)
    first = await line.pick_up(warning_id)

    def broken(*args, **kwargs):
        raise StorageError("the warning database failed: OperationalError")

    monkeypatch.setattr(store, "record", broken)
    root = await line.follow(action(first), Digits=TEXTS.yes_key)
    assert root.find("Dial/Number").text == DUTY


def test_the_duty_number_from_the_environment_wins(store, monkeypatch):
    channel = VoiceChannel(VoiceSettings(public_url=BASE, duty_number=DUTY), TOKEN)
    monkeypatch.setenv(ENV_DUTY_NUMBER, "+8657188880000")
    assert WarningCallFlow(channel, lambda: store).duty_number == "+8657188880000"
    monkeypatch.setenv(ENV_DUTY_NUMBER, "0571-8888")
    with pytest.raises(InvalidConfigException, match=ENV_DUTY_NUMBER):
        WarningCallFlow(channel, lambda: store)


# --- status callbacks and the desk's own call -------------------------------------------


async def test_status_callback_updates_the_attempt_by_sid_and_by_event_id(store):
    warning_id = add_warning(store)
    line = Line(store)
    by_sid = placed_call(store, warning_id, sid="CA-one")
    resp, _ = await line.post(f"{PREFIX}/warning/status?event={by_sid}", {"CallSid": "CA-one", "CallStatus": "ringing"})
    assert resp.status == 204
    lost = store.start_attempt(warning_id, "call", "dispatcher:test").id  # killed before the sid was stored
    resp, _ = await line.post(f"{PREFIX}/warning/status?event={lost}",
                              {"CallSid": "CA-two", "CallStatus": "no-answer"})
    assert resp.status == 204
    states = {e.id: (e.state, e.twilio_sid) for e in store.events(warning_id)}
    assert states[by_sid] == ("ringing", "CA-one") and states[lost] == ("no-answer", "CA-two")
    resp, _ = await line.post(f"{PREFIX}/warning/status", {"CallSid": "CA-unknown", "CallStatus": "completed"})
    assert resp.status == 204
    resp, _ = await line.post(f"{PREFIX}/warning/status?event={by_sid}", {"CallSid": "CA-one"})
    assert resp.status == 400 and "CallStatus" in resp.text


async def test_the_desk_hears_the_warning_and_the_number_digit_by_digit(store):
    warning_id = add_warning(store, note="居民说对方要验证码123456，还让转账")
    root = await Line(store).twiml(f"{PREFIX}/warning/desk?warning={warning_id}", CallSid="CA-desk", From=CENTRE, To=DUTY)
    text = said(root)
    number = "幺三八，幺二三四，五六七八"
    assert text.count(number) == 2  # said twice, to be written down
    assert "红色预警" in text and "冒充公检法" in text and "还让转账" in text
    assert not re.search(r"\d{3,}", text) and read_digits("123456") not in text and "验证码已隐去" in text
    assert hangs_up(root)


async def test_bad_signatures_are_refused_and_nothing_is_stored(store):
    warning_id = add_warning(store)
    event_id = placed_call(store, warning_id)
    before = store.events(warning_id)
    line = Line(store)
    for path, data in (
        (f"/warning/call?warning={warning_id}&event={event_id}", {"CallSid": "CA-resident", "AnsweredBy": "human"}),
        (f"/warning/answer?warning={warning_id}&step=0", {"CallSid": "CA-resident", "Digits": "2"}),
        (f"/warning/dial?warning={warning_id}&answer=money_moving", {"CallSid": "CA-resident", "DialCallStatus": "completed"}),
        (f"/warning/whisper?warning={warning_id}&answer=money_moving", {"CallSid": "CA-desk"}),
        (f"/warning/status?event={event_id}", {"CallSid": "CA-resident", "CallStatus": "completed"}),
        (f"/warning/desk?warning={warning_id}", {"CallSid": "CA-desk"}),
    ):
        for sign_with in (None, "another-token"):
            resp, _ = await line.post(PREFIX + path, data, sign_with=sign_with)
            assert resp.status == 403 and "X-Twilio-Signature" in resp.text, path
    assert store.events(warning_id) == before and store.get(warning_id).status == "open"


async def test_malformed_query_parameters_answer_400(store):
    line = Line(store)
    for path in ("/warning/call", "/warning/call?warning=abc", "/warning/answer?warning=1",
                 "/warning/dial?warning=1&answer=maybe"):
        resp, _ = await line.post(PREFIX + path, {"CallSid": "CA1", "DialCallStatus": "completed"})
        assert resp.status == 400, path
