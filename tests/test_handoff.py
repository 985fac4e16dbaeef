"""Handoff: duty hours, passwords, tickets (claim race, who may act), console sessions, the
actions that open tickets and pause, and the console's pause/resume of a conversation."""
from __future__ import annotations

import sqlite3
import threading
from datetime import datetime, timedelta, timezone
from typing import Any, Iterator

import pytest
from cryptography.fernet import Fernet
from rasa.core.channels.channel import CollectingOutputChannel
from rasa.core.lock_store import InMemoryLockStore
from rasa.core.tracker_store import InMemoryTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, ConversationPaused, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions import common, handoff as handoff_actions
from actions.fallback import ActionDefaultFallback
from actions.report import ActionMoneyMovingNow
from bot.channels.console.desk import Desk, DeskError, transcript
from bot.services.console_auth import Sessions
from bot.services.handoff import (
    CLAIMED,
    CLOSED,
    RETURNED,
    UNANSWERED,
    WAITING,
    DutyHours,
    HandoffError,
    HandoffSettings,
    TicketStore,
    check_password,
    hash_password,
)
from bot.services.reports.store import ReportStore
from knowledge.handoff import handoff_texts
from knowledge.loader import KNOWLEDGE_DIR, load_contacts
from tests.actions_helpers import slot_events, texts, tracker_for

BEIJING = timezone(timedelta(hours=8))
TEXTS = handoff_texts()
OUTCOMES = tuple(TEXTS.outcomes)


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 22, 2, 0, tzinfo=timezone.utc)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def tickets(tmp_path, clock) -> Iterator[TicketStore]:
    store = ReportStore(f"sqlite:///{tmp_path / 'fanzha.db'}", env={"FANZHA_REPORT_KEY": Fernet.generate_key().decode()}, clock=clock)
    yield TicketStore(store)
    store.close()


def open_one(tickets: TicketStore, sender: str = "resident-1", **extra: Any):
    return tickets.open_ticket(sender=sender, channel="socketio", reason="request", **extra)


# --- duty hours and settings ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "hours, beijing, on",
    [
        ("08:00-22:00", "07:59", False), ("08:00-22:00", "08:00", True), ("08:00-22:00", "21:59", True),
        ("08:00-22:00", "22:00", False), ("22:00-06:00", "23:30", True), ("22:00-06:00", "05:59", True),
        ("22:00-06:00", "12:00", False), ("08:00-12:00,14:00-18:00", "13:00", False),
        ("08:00-12:00,14:00-18:00", "15:00", True), ("00:00-24:00", "23:59", True), ("00:00-24:00", "00:00", True),
    ],
)
def test_duty_hours_are_beijing_time(hours, beijing, on):
    h, m = map(int, beijing.split(":"))
    moment = datetime(2026, 11, 22, h, m, tzinfo=BEIJING).astimezone(timezone.utc)
    assert DutyHours.parse(hours).on_duty(moment) is on


@pytest.mark.parametrize("bad", ["8-22", "08:00-25:00", "08:60-09:00", "09:00-09:00", "", "08:00-22:00,x"])
def test_bad_duty_hours_say_what_is_wrong(bad):
    with pytest.raises(HandoffError, match="FANZHA_DUTY_HOURS"):
        DutyHours.parse(bad)


def test_settings_from_the_environment():
    settings = HandoffSettings.from_env({"FANZHA_DUTY_HOURS": "09:00-17:00", "FANZHA_HANDOFF_CLAIM_TIMEOUT": "120"})
    assert settings.claim_timeout == 120 and settings.duty_hours.text == "09:00-17:00"
    assert HandoffSettings.from_env({}).duty_hours.text == "08:00-22:00"
    for bad in ("soon", "1", "999999"):
        with pytest.raises(HandoffError, match="FANZHA_HANDOFF_CLAIM_TIMEOUT"):
            HandoffSettings.from_env({"FANZHA_HANDOFF_CLAIM_TIMEOUT": bad})


# --- agents and passwords -------------------------------------------------------------------------


def test_passwords_are_salted_scrypt_hashes():
    first, second = hash_password("a long password"), hash_password("a long password")
    assert first.startswith("scrypt$") and first != second and "a long password" not in first
    assert check_password("a long password", first) and not check_password("a long passwore", first)
    assert not check_password("anything", "md5$abc")


def test_agents_log_in_with_their_own_password_only(tickets, tmp_path):
    tickets.add_agent("duty.wang", "wang-password-42")
    assert tickets.verify_agent("duty.wang", "wang-password-42")
    assert not tickets.verify_agent("duty.wang", "wrong-password")
    assert not tickets.verify_agent("nobody", "wang-password-42")
    with pytest.raises(HandoffError, match="already"):
        tickets.add_agent("duty.wang", "another-password")
    with pytest.raises(HandoffError, match="at least 10"):
        tickets.add_agent("duty.li", "short")
    with pytest.raises(HandoffError, match="name"):
        tickets.add_agent("a b", "long-enough-password")
    tickets.disable_agent("duty.wang")
    assert not tickets.verify_agent("duty.wang", "wang-password-42") and not tickets.agent_active("duty.wang")
    tickets.set_password("duty.wang", "new-password-4242")
    assert tickets.verify_agent("duty.wang", "new-password-4242")
    raw = sqlite3.connect(tmp_path / "fanzha.db").execute("SELECT password_hash FROM agents").fetchone()[0]
    assert "new-password" not in raw


# --- tickets -------------------------------------------------------------------------------------


def test_a_ticket_keeps_the_details_encrypted_and_one_per_conversation(tickets, tmp_path):
    ticket = open_one(
        tickets, scam_type="impersonate_police", risk="high",
        report={"report_amount": "5万"}, turns=[{"from": "user", "text": "他让我转到安全账户"}],
    )
    assert ticket.status == WAITING and ticket.details["report"] == {"report_amount": "5万"}
    assert open_one(tickets).id == ticket.id, "a second request while waiting finds the same ticket"
    assert open_one(tickets, sender="resident-2").id != ticket.id
    row = sqlite3.connect(tmp_path / "fanzha.db").execute("SELECT sender, details FROM handoff_tickets").fetchone()
    assert "resident-1" not in row[0] and "安全账户" not in row[1]
    assert [t.id for t in tickets.queue()] == [ticket.id, ticket.id + 1]


def test_of_many_agents_claiming_at_once_exactly_one_gets_each_ticket(tickets):
    ids = [open_one(tickets, sender=f"resident-{i}").id for i in range(10)]
    winners: dict[int, list[str]] = {i: [] for i in ids}
    barrier = threading.Barrier(4)

    def agent(name: str) -> None:
        barrier.wait()
        for ticket_id in ids:
            if tickets.claim(ticket_id, name):
                winners[ticket_id].append(name)

    threads = [threading.Thread(target=agent, args=(f"agent-{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(len(names) == 1 for names in winners.values()), winners
    assert all(tickets.get(i).claimed_by == winners[i][0] for i in ids)


def test_only_the_holder_hands_back_or_closes(tickets):
    ticket = open_one(tickets)
    assert tickets.claim(ticket.id, "wang")
    assert not tickets.claim(ticket.id, "li")
    assert not tickets.hand_back(ticket.id, "li") and not tickets.close(ticket.id, "li", "advised", OUTCOMES)
    with pytest.raises(HandoffError, match="outcome"):
        tickets.close(ticket.id, "wang", "made-up", OUTCOMES)
    assert tickets.hand_back(ticket.id, "wang") and tickets.get(ticket.id).status == RETURNED
    assert not tickets.close(ticket.id, "wang", "advised", OUTCOMES), "an ended ticket stays ended"
    assert tickets.active_for("resident-1") is None
    waiting = open_one(tickets)
    assert waiting.id != ticket.id
    assert tickets.close(waiting.id, "li", "not_fraud", OUTCOMES)
    closed = tickets.get(waiting.id)
    assert closed.status == CLOSED and closed.claimed_by == "li" and closed.outcome == "not_fraud"


def test_unclaimed_tickets_expire_after_the_timeout(tickets, clock):
    old = open_one(tickets, sender="early")
    clock.now += timedelta(seconds=200)
    fresh = open_one(tickets, sender="late")
    claimed = open_one(tickets, sender="taken")
    tickets.claim(claimed.id, "wang")
    clock.now += timedelta(seconds=150)
    assert [t.id for t in tickets.expire_unclaimed(timedelta(seconds=300))] == [old.id]
    assert tickets.get(old.id).status == UNANSWERED and tickets.get(fresh.id).status == WAITING
    assert tickets.expire_unclaimed(timedelta(seconds=300)) == [], "expired once only"
    assert tickets.get(claimed.id).status == CLAIMED


# --- console sessions ---------------------------------------------------------------------------


def test_sessions_are_signed_and_expire():  # ending them: tests/test_console_sessions.py
    now = [1000.0]
    sessions = Sessions(b"k" * 32, clock=lambda: now[0], lifetime=60)
    session, cookie = sessions.issue("duty.wang")
    assert sessions.read(cookie) == session
    payload, signature = cookie.split(".")
    other, other_cookie = Sessions(b"x" * 32).issue("duty.wang")
    assert sessions.read(other_cookie) is None, "a cookie signed with another key"
    assert sessions.read(other_cookie.split(".")[0] + "." + signature) is None, "a payload swapped under a signature"
    assert sessions.read("garbage") is None and sessions.read(None) is None
    assert sessions.csrf_ok(session, sessions.csrf_token(session))
    li, _ = sessions.issue("duty.li")
    assert not sessions.csrf_ok(session, sessions.csrf_token(li)) and not sessions.csrf_ok(session, "")
    _, late = sessions.issue("duty.li")
    now[0] += 61
    assert sessions.read(late) is None


# --- actions -------------------------------------------------------------------------------------


@pytest.fixture
def store(tmp_path, monkeypatch) -> Iterator[ReportStore]:
    monkeypatch.setenv("FANZHA_DATABASE_URL", f"sqlite:///{tmp_path / 'actions.db'}")
    monkeypatch.setenv("FANZHA_REPORT_KEY", Fernet.generate_key().decode())
    monkeypatch.setenv("FANZHA_DUTY_HOURS", "00:00-24:00")
    for cached in (common.report_store, handoff_actions.tickets, handoff_actions.settings):
        cached.cache_clear()
    yield common.report_store()
    common.report_store().close()
    for cached in (common.report_store, handoff_actions.tickets, handoff_actions.settings):
        cached.cache_clear()


async def run(action: Any, tracker: Tracker) -> tuple[CollectingDispatcher, list[dict[str, Any]]]:
    dispatcher = CollectingDispatcher()
    events = await action.run(dispatcher, tracker, {})
    return dispatcher, events


async def test_asking_for_a_person_opens_a_ticket_and_pauses(store) -> None:
    tracker = tracker_for("我要和真人说话", "request_human", slots={"report_amount": "3万", "risk": "medium", "scam_type": "investment"}, channel="socketio")
    dispatcher, events = await run(handoff_actions.ActionHandoff(), tracker)
    assert events[-1] == {"event": "pause", "timestamp": None}
    said = texts(dispatcher)
    assert TEXTS.connecting.format(why=TEXTS.reasons["request"].why) in said and TEXTS.while_waiting in said
    ticket = TicketStore(store).active_for("tester")
    assert ticket.reason == "request" and ticket.channel == "socketio" and ticket.risk == "medium"
    assert ticket.details["report"] == {"report_amount": "3万"}
    assert ticket.details["turns"] == [{"from": "user", "text": "我要和真人说话"}]
    assert not any(m.get("custom") for m in dispatcher.messages), "the web widget gets no custom payload"


async def test_outside_duty_hours_110_96110_and_a_call_back_offer_without_pause(store, monkeypatch) -> None:
    monkeypatch.setenv("FANZHA_DUTY_HOURS", "00:00-00:01")
    handoff_actions.settings.cache_clear()
    dispatcher, events = await run(handoff_actions.ActionHandoff(), tracker_for("转人工", "request_human"))
    assert not any(e["event"] == "pause" for e in events)
    said = texts(dispatcher)
    assert "00:00-00:01" in said and "110" in said and "96110" in said
    assert dispatcher.messages[-1]["buttons"] == [{"title": TEXTS.callback_button, "payload": "/request_callback"}]
    assert TicketStore(store).queue() == []


async def test_despair_gets_110_and_120_before_anything_else(store) -> None:
    dispatcher, events = await run(handoff_actions.ActionHandoff(), tracker_for("我不想活了", "despair", channel="socketio"))
    first = dispatcher.messages[0]["text"]
    assert first == TEXTS.despair_first and "110" in first and "120" in first
    assert TicketStore(store).active_for("tester").reason == "despair" and events[-1]["event"] == "pause"


def sender_tracker(sender: str, text: str, intent: str, channel: str) -> Tracker:
    latest = {"text": text, "intent": {"name": intent, "confidence": 0.95}, "entities": []}
    events = [{"event": "user", "text": text, "parse_data": latest, "input_channel": channel}]
    return Tracker(sender, {}, latest, events, False, None, {}, "action_listen")


async def test_rest_handoffs_from_many_new_senders_open_no_ticket(store) -> None:
    """REST has no way back to the resident: a ticket from it could never be answered."""
    for n in range(20):
        dispatcher, events = await run(handoff_actions.ActionHandoff(), sender_tracker(f"flood-{n}", "转人工", "request_human", "rest"))
        assert not any(e["event"] == "pause" for e in events)
    assert TicketStore(store).queue() == []
    said = [m.get("text") for m in dispatcher.messages]
    contacts = load_contacts(KNOWLEDGE_DIR / "contacts.yml")
    assert said[:3] == [TEXTS.no_desk.format(why=TEXTS.reasons["request"].why), contacts["police_110"].say,
                        contacts["antifraud_96110"].say]
    assert said[-1] == TEXTS.no_desk_callback
    assert dispatcher.messages[-1]["buttons"] == [{"title": TEXTS.callback_button, "payload": "/request_callback"}]


async def test_web_chat_and_wechat_handoffs_still_open_tickets(store) -> None:
    for channel in ("socketio", "wechat"):
        dispatcher, events = await run(handoff_actions.ActionHandoff(), sender_tracker(f"{channel}-1", "转人工", "request_human", channel))
        assert events[-1]["event"] == "pause" and TicketStore(store).active_for(f"{channel}-1").channel == channel
    assert {"handoff": {"summary": TEXTS.reasons["request"].label}} in [m.get("custom") for m in dispatcher.messages]


def test_tickets_come_only_from_channels_an_agents_reply_reaches(monkeypatch):
    """DESK_CHANNELS names the channels whose output channel the console's Desk sends through."""
    from bot.channels.web.rest import RestChannel
    from bot.channels.web.socketio import SocketIOChannel
    from bot.channels.wechat.channel import WeChatChannel
    from bot.services.handoff import DESK_CHANNELS
    from tests import test_wechat_channel as wechat

    for variable in wechat.ENVIRONMENT.values():
        monkeypatch.delenv(variable, raising=False)
    web_chat = SocketIOChannel()
    web_chat.blueprint(lambda message: None)
    wechat_channel = WeChatChannel.from_credentials({"token": wechat.TOKEN, "app_id": wechat.APP_ID, "app_secret": wechat.APP_SECRET})
    reaches = {channel.name(): channel.get_output_channel() is not None for channel in (RestChannel(), web_chat, wechat_channel)}
    assert reaches == {"rest": False, "socketio": True, "wechat": True}
    assert DESK_CHANNELS == {name for name, reached in reaches.items() if reached}


async def test_the_phone_line_gets_the_transfer_payload_and_no_pause(store) -> None:
    dispatcher, events = await run(handoff_actions.ActionHandoff(), tracker_for("转人工", "request_human", channel="voice"))
    assert {"handoff": {"summary": TEXTS.reasons["request"].label}} in [m.get("custom") for m in dispatcher.messages]
    assert not any(e["event"] == "pause" for e in events) and TicketStore(store).queue() == []


async def test_money_moving_at_high_risk_hands_over_and_the_ticket_says_why(store) -> None:
    tracker = tracker_for("他还在让我转", "money_going_out", slots={"risk": "high"})
    dispatcher, events = await run(ActionMoneyMovingNow(), tracker)
    assert "110" in texts(dispatcher)
    assert events[-1] == {"event": "followup", "timestamp": None, "name": "action_handoff"}
    assert slot_events(events)["handoff_trigger"] == "money_moving"
    then = tracker_for("他还在让我转", "money_going_out", slots={"risk": "high", "handoff_trigger": "money_moving"},
                       channel="socketio")
    dispatcher, _ = await run(handoff_actions.ActionHandoff(), then)
    assert TEXTS.while_waiting_money in texts(dispatcher)
    assert TicketStore(store).active_for("tester").reason == "money_moving"
    low = tracker_for("他还在让我转", "money_going_out", slots={"risk": "medium"})
    assert not any(e["event"] == "followup" for e in (await run(ActionMoneyMovingNow(), low))[1])


def fallback_tracker(previous_fell_back: bool) -> Tracker:
    parse = {"text": "嗯啊哦", "intent": {"name": "nlu_fallback", "confidence": 0.3}, "entities": []}
    events = [
        {"event": "action", "name": "action_listen"},
        {"event": "user", "text": "阿巴阿巴", "parse_data": parse, "input_channel": "rest"},
        {"event": "action", "name": "action_default_fallback" if previous_fell_back else "action_check_scam"},
        {"event": "bot", "text": "抱歉"},
        {"event": "action", "name": "action_listen"},
        {"event": "user", "text": "嗯啊哦", "parse_data": parse, "input_channel": "rest"},
    ]
    return Tracker("tester", {}, parse, events, False, None, {}, "action_listen")


async def test_the_second_fallback_in_a_row_hands_over() -> None:
    _, first = await run(ActionDefaultFallback(), fallback_tracker(previous_fell_back=False))
    assert first == [{"event": "rewind", "timestamp": None}]
    _, second = await run(ActionDefaultFallback(), fallback_tracker(previous_fell_back=True))
    assert slot_events(second)["handoff_trigger"] == "fallback" and second[-1]["name"] == "action_handoff"


async def test_a_call_back_request_is_stored_with_the_phone_number(store) -> None:
    tracker = tracker_for("回电 13912345678", "request_callback", slots={"handoff_reason": "money_moving"})
    dispatcher, _ = await run(handoff_actions.ActionRequestCallback(), tracker)
    assert texts(dispatcher) == TEXTS.callback_recorded
    (request,) = store.callbacks_for_sender("tester")
    assert request.phone == "13912345678" and TEXTS.reasons["money_moving"].label in request.reason
    dispatcher, _ = await run(handoff_actions.ActionRequestCallback(), tracker_for("/request_callback", "request_callback"))
    assert texts(dispatcher) == TEXTS.callback_recorded_no_phone
    assert [r.phone for r in store.callbacks_for_sender("tester")] == ["13912345678", None]


# --- the console pauses and resumes the conversation --------------------------------------------


class FakeChannel:
    def __init__(self) -> None:
        self.output = CollectingOutputChannel()

    @staticmethod
    def name() -> str:
        return "socketio"

    def get_output_channel(self) -> CollectingOutputChannel:
        return self.output


class FakeAgent:
    def __init__(self, domain: Domain) -> None:
        self.tracker_store = InMemoryTrackerStore(domain)
        self.lock_store = InMemoryLockStore()


@pytest.fixture
def desk(tickets) -> Desk:
    return Desk(tickets, TEXTS, load_contacts(KNOWLEDGE_DIR / "contacts.yml"), FakeAgent(Domain.empty()), [FakeChannel()])


async def paused_conversation(desk: Desk, sender: str = "resident-1") -> DialogueStateTracker:
    tracker = DialogueStateTracker(sender, [])
    tracker.update(ActionExecuted("action_listen"))
    tracker.update(UserUttered("转人工", {"name": "request_human"}, input_channel="socketio"))
    tracker.update(ActionExecuted("action_handoff"))
    tracker.update(ConversationPaused())
    tracker.update(UserUttered("在吗", {"name": "greet"}, input_channel="socketio"))
    await desk.agent.tracker_store.save(tracker)
    assert tracker.is_paused()
    return tracker


async def test_the_agent_replies_and_hands_back_and_the_bot_is_resumed(desk) -> None:
    await paused_conversation(desk)
    ticket = open_one(desk.tickets)
    await desk.claim(ticket.id, "wang")
    with pytest.raises(DeskError) as refused:
        await desk.reply(ticket.id, "li", "我来")
    assert refused.value.status == 409
    await desk.reply(ticket.id, "wang", "对方让您转账了吗？")
    sent = desk.input_channels[0].output.messages
    assert [m["text"] for m in sent] == [TEXTS.claimed, TEXTS.agent_says.format(text="对方让您转账了吗？")]
    assert all(m["recipient_id"] == "resident-1" for m in sent)
    tracker = await desk.agent.tracker_store.retrieve("resident-1")
    assert tracker.is_paused(), "replying keeps the bot paused"
    lines = transcript(tracker.events)
    assert [(e.who, e.agent) for e in lines] == [("user", None), ("user", None), ("agent", "wang"), ("agent", "wang")]
    await desk.hand_back(ticket.id, "wang")
    tracker = await desk.agent.tracker_store.retrieve("resident-1")
    assert not tracker.is_paused() and tracker.latest_action_name == "action_listen"
    assert sent[-1]["text"] == TEXTS.handed_back and desk.tickets.get(ticket.id).status == RETURNED
    with pytest.raises(DeskError):
        await desk.reply(ticket.id, "wang", "还在吗")


async def test_closing_resumes_the_bot(desk) -> None:
    await paused_conversation(desk)
    ticket = open_one(desk.tickets)
    with pytest.raises(DeskError):
        await desk.close(ticket.id, "wang", "made-up")
    await desk.close(ticket.id, "wang", "referred_110")
    assert not (await desk.agent.tracker_store.retrieve("resident-1")).is_paused()
    assert desk.input_channels[0].output.messages[-1]["text"] == TEXTS.closed


async def test_nobody_claiming_resumes_with_110_96110_and_the_call_back_offer(desk, clock) -> None:
    await paused_conversation(desk)
    open_one(desk.tickets)
    assert await desk.expire(300) == []
    clock.now += timedelta(seconds=301)
    (expired,) = await desk.expire(300)
    assert expired.status == UNANSWERED
    assert not (await desk.agent.tracker_store.retrieve("resident-1")).is_paused()
    sent = desk.input_channels[0].output.messages
    assert sent[0]["text"] == TEXTS.no_agent and "110" in sent[1]["text"] and "96110" in sent[2]["text"]
    assert sent[-1]["buttons"][0]["payload"] == "/request_callback"


# --- the phone line's call-backs go to the report database -------------------------------------


def test_a_phone_call_back_is_stored_encrypted(tmp_path):
    from bot.channels.voice.callbacks import CallbackRequest, StoredCallbackQueue

    url = f"sqlite:///{tmp_path / 'voice.db'}"
    env = {"FANZHA_REPORT_KEY": Fernet.generate_key().decode()}
    queue = StoredCallbackQueue(lambda: ReportStore(url, env=env))
    queue.record(CallbackRequest("CA6", "+8613912345678", "no-answer", "居民要求转人工", datetime.now(timezone.utc)))
    with ReportStore(url, env=env) as store:
        (stored,) = store.callbacks_for_sender("CA6")
    assert (stored.channel, stored.phone) == ("voice", "+8613912345678")
    assert "no-answer" in stored.reason and "居民要求转人工" in stored.reason
    raw = sqlite3.connect(tmp_path / "voice.db").execute("SELECT phone, reason FROM callback_requests").fetchone()
    assert "13912345678" not in raw[0] and "转人工" not in raw[1]


async def test_a_call_back_that_cannot_be_stored_is_not_promised():
    from bot.services.reports.errors import StorageError
    from tests.test_voice_channel import CALLER, DUTY, TEXTS as VOICE_TEXTS, Line, handoff_bot, said, spoken

    class Broken:
        def record(self, request: Any) -> None:
            raise StorageError("disk full")

    line = Line(handoff_bot(), duty_number=DUTY)
    line.channel.callbacks = Broken()
    await line.call(call_sid="CA9")
    await line.call(call_sid="CA9", Digits="0")
    _, root = await line.post({"CallSid": "CA9", "From": CALLER, "DialCallStatus": "no-answer"}, path="/webhooks/voice/dial")
    text = said(root)
    assert spoken(VOICE_TEXTS.callback_failed) in text and spoken(VOICE_TEXTS.callback_recorded) not in text
