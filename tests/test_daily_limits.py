"""Call-backs and summary SMS are capped per day, per phone number and per client, in the report
database every replica shares; refusals are counted for the agent console, without who asked."""
from __future__ import annotations

import sqlite3
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any, Iterator

import pytest
from cryptography.fernet import Fernet
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher
from sanic import Sanic

from actions import common, handoff as handoff_actions
from bot.channels.console.channel import AgentConsoleChannel
from bot.services.console_auth import COOKIE, Sessions
from bot.services.daily_limits import DailyCaps, DailyLimiter, DailyLimitError, number_key, refusals
from bot.services.reports.store import ReportStore
from knowledge.handoff import handoff_texts
from knowledge.loader import KNOWLEDGE_DIR, load_contacts

TEXTS = handoff_texts()
CONTACTS = load_contacts(KNOWLEDGE_DIR / "contacts.yml")
OFFICIAL = [CONTACTS["police_110"].say, CONTACTS["antifraud_96110"].say]


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 22, 2, 0, tzinfo=timezone.utc)  # 10:00 in Beijing

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def store(tmp_path, monkeypatch) -> Iterator[ReportStore]:
    """The action server's store on the test's own database (call-backs, counts)."""
    monkeypatch.setenv("FANZHA_DATABASE_URL", f"sqlite:///{tmp_path / 'actions.db'}")
    monkeypatch.setenv("FANZHA_REPORT_KEY", Fernet.generate_key().decode())
    for name in ("FANZHA_DAILY_PER_NUMBER", "FANZHA_DAILY_PER_ADDRESS"):
        monkeypatch.delenv(name, raising=False)
    common.report_store.cache_clear()
    yield common.report_store()
    common.report_store().close()
    common.report_store.cache_clear()


def asking(text: str, client: str | None, sender: str | None = None, intent: str = "request_callback") -> Tracker:
    """The tracker Rasa sends after a message; ``client`` is the channel's key for the address."""
    latest: dict[str, Any] = {"text": text, "intent": {"name": intent, "confidence": 0.95}, "entities": []}
    if client:
        latest["metadata"] = {"fanzha": {"client": client}}
    events = [{"event": "user", "text": text, "parse_data": latest, "input_channel": "rest"}]
    return Tracker(sender or uuid.uuid4().hex, {}, latest, events, False, None, {}, "action_listen")


async def call_back(tracker: Tracker) -> list[str]:
    dispatcher = CollectingDispatcher()
    await handoff_actions.ActionRequestCallback().run(dispatcher, tracker, {})
    return [m["text"] for m in dispatcher.messages]


def stored(store: ReportStore) -> int:
    with store.engine.connect() as conn:
        return conn.exec_driver_sql("SELECT count(*) FROM callback_requests").scalar_one()


# --- the settings -------------------------------------------------------------------------------


def test_the_caps_default_to_3_per_number_and_10_per_address_and_can_be_off():
    assert DailyCaps.from_env({}) == DailyCaps(per_number=3, per_client=10)
    assert DailyCaps.from_env({"FANZHA_DAILY_PER_NUMBER": "off", "FANZHA_DAILY_PER_ADDRESS": "20"}) == DailyCaps(None, 20)
    for bad in ("0", "-1", "three"):
        with pytest.raises(DailyLimitError, match="FANZHA_DAILY_PER_ADDRESS"):
            DailyCaps.from_env({"FANZHA_DAILY_PER_ADDRESS": bad})


def test_one_number_however_it_is_written():
    assert number_key("+86 138-1234-5678") == number_key("13812345678") == number_key("8613812345678") == "13812345678"
    assert number_key("0571-12345678") == "057112345678"


# --- call-backs -----------------------------------------------------------------------------------


async def test_call_backs_for_one_number_past_the_daily_cap_are_refused_and_counted(store) -> None:
    # Each from a new sender and a new address: only the number is the same.
    replies = [await call_back(asking("回电 13912345678", client=f"address-{n}")) for n in range(4)]
    assert replies[:3] == [[TEXTS.callback_recorded]] * 3
    assert replies[3] == [TEXTS.callback_limited, *OFFICIAL]
    assert stored(store) == 3
    assert refusals(store)["today"] == {"callback": 1, "sms": 0}
    assert await call_back(asking("回电 13912345679", client="address-9")) == [TEXTS.callback_recorded]  # another number


async def test_call_backs_from_one_address_past_the_daily_cap_are_refused(store) -> None:
    # New sender ids and a new number every time, all from one address (the channel's key).
    replies = [await call_back(asking(f"回电 1391234{n:04d}", client="hall-wifi")) for n in range(12)]
    assert replies.count([TEXTS.callback_recorded]) == 10 and replies[10:] == [[TEXTS.callback_limited, *OFFICIAL]] * 2
    assert stored(store) == 10 and refusals(store)["today"]["callback"] == 2


async def test_without_an_address_the_sender_is_counted(store) -> None:
    """WeChat: the openid is the client (its requests all come from WeChat's servers)."""
    for n in range(10):
        await call_back(asking(f"回电 1391234{n:04d}", client=None, sender="oWeChatResident"))
    assert await call_back(asking("回电 13900000000", client=None, sender="oWeChatResident")) == [TEXTS.callback_limited, *OFFICIAL]
    assert await call_back(asking("回电 13900000000", client=None, sender="oSomeoneElse")) == [TEXTS.callback_recorded]


async def test_the_caps_can_be_switched_off(store, monkeypatch) -> None:
    monkeypatch.setenv("FANZHA_DAILY_PER_NUMBER", "off")
    monkeypatch.setenv("FANZHA_DAILY_PER_ADDRESS", "off")
    for _ in range(15):
        assert await call_back(asking("回电 13912345678", client="hall-wifi")) == [TEXTS.callback_recorded]
    assert stored(store) == 15


def test_replicas_share_the_count_and_a_new_day_starts_afresh(tmp_path):
    url, env = f"sqlite:///{tmp_path / 'shared.db'}", {"FANZHA_REPORT_KEY": Fernet.generate_key().decode()}
    clock = Clock()
    one, two = ReportStore(url, env=env, clock=clock), ReportStore(url, env=env, clock=clock)
    caps = DailyCaps(per_number=2, per_client=None)
    a, b = DailyLimiter(one, caps), DailyLimiter(two, caps)
    assert a.allow("sms", client="x", number="13812345678") and b.allow("sms", client="y", number="+8613812345678")
    assert not a.allow("sms", client="z", number="13812345678")
    assert a.allow("callback", client="z", number="13812345678")  # call-backs count apart from SMS
    assert refusals(two)["today"] == {"callback": 0, "sms": 1}
    clock.now += timedelta(days=1)
    assert b.allow("sms", client="x", number="13812345678")
    assert refusals(one) == {"today": {"callback": 0, "sms": 0}, "recent": {"callback": 0, "sms": 1}}
    clock.now += timedelta(days=7)
    assert refusals(one)["recent"] == {"callback": 0, "sms": 0}
    for store in (one, two):
        store.close()


def test_a_refused_request_takes_no_place_from_the_other_cap(tmp_path):
    env = {"FANZHA_REPORT_KEY": Fernet.generate_key().decode()}
    with ReportStore(f"sqlite:///{tmp_path / 'r.db'}", env=env) as store:
        limiter = DailyLimiter(store, DailyCaps(per_number=1, per_client=2))
        assert limiter.allow("callback", client="hall", number="13800000001")
        assert not limiter.allow("callback", client="hall", number="13800000001")  # the number is used up…
        assert limiter.allow("callback", client="hall", number="13800000002")  # …the address still had a place


def test_the_counts_hold_no_number_or_address(tmp_path):
    env = {"FANZHA_REPORT_KEY": Fernet.generate_key().decode()}
    with ReportStore(f"sqlite:///{tmp_path / 'r.db'}", env=env) as store:
        DailyLimiter(store, DailyCaps(3, 10)).allow("sms", client="address:203.0.113.5", number="13812345678")
    rows = sqlite3.connect(tmp_path / "r.db").execute("SELECT name FROM daily_counts").fetchall()
    names = " ".join(name for (name,) in rows)
    assert len(rows) == 2 and "13812345678" not in names and "203.0.113.5" not in names


# --- SMS ------------------------------------------------------------------------------------------


async def test_summary_sms_to_one_number_past_the_daily_cap_are_not_sent(store, twilio_api, monkeypatch) -> None:
    from actions.sms import ActionSendSummarySms
    from tests.fake_twilio import FROM, SID, TOKEN, FakeTwilio

    for name, value in (("FANZHA_TWILIO_ACCOUNT_SID", SID), ("FANZHA_TWILIO_AUTH_TOKEN", TOKEN),
                        ("FANZHA_TWILIO_FROM", FROM), ("FANZHA_TWILIO_API_BASE", twilio_api)):
        monkeypatch.setenv(name, value)
    reference = store.save_report({"amount": "5万"}, channel="rest", sender="resident").reference
    said = []
    for n in range(4):
        tracker = asking("13812345678", client=f"address-{n}", intent="inform")
        tracker.slots.update({"report_reference": reference, "sms_offered": True})
        dispatcher = CollectingDispatcher()
        await ActionSendSummarySms().run(dispatcher, tracker, {})
        said.append(dispatcher.messages)
    assert len(FakeTwilio.received) == 3
    assert [m[0]["response"] for m in said] == ["utter_sms_sent"] * 3 + ["utter_sms_failed"]
    assert said[3][0]["reference"] == reference and said[3][1]["text"] == OFFICIAL[0]
    assert refusals(store)["today"] == {"callback": 0, "sms": 1}


# --- the agent console --------------------------------------------------------------------------


async def test_the_console_shows_how_many_were_refused_and_nothing_else(store) -> None:
    for n in range(5):
        await call_back(asking("回电 13912345678", client=f"address-{n}"))
    sessions = Sessions(b"k" * 40)
    channel = AgentConsoleChannel(sessions=sessions)
    always = lambda *_: True  # noqa: E731  (a logged-in, active agent)
    channel._tickets = type("Tickets", (), {"store": store, "session_open": always, "agent_active": always})()
    app = Sanic(f"console_{uuid.uuid4().hex}")
    app.blueprint(channel.blueprint(None), url_prefix=channel.url_prefix())
    _, anonymous = await app.asgi_client.get("/console/api/refusals")
    assert anonymous.status == 401
    _, cookie = sessions.issue("duty.wang")
    _, resp = await app.asgi_client.get("/console/api/refusals", cookies={COOKIE: cookie})
    assert resp.status == 200
    assert resp.json == {"today": {"callback": 2, "sms": 0}, "recent": {"callback": 2, "sms": 0}}
    page = (await app.asgi_client.get("/console", cookies={COOKIE: cookie}))[1].text
    assert 'id="refused-callback-today"' in page
