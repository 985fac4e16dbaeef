"""Rate limits (per sender, per client address, global) and the long-message notice on the
public channels.

The limiter on its own with a fake clock, then each channel's blueprint in a Sanic app (REST,
WeChat, the phone line) or its socket.io handler, with a stand-in for Rasa that records what
reaches it. No model is needed.
"""
from __future__ import annotations

import asyncio
import socket
import uuid
from datetime import date
from typing import Any, Iterator

import pytest
import socketio
from rasa.core.channels.channel import UserMessage
from sanic import Sanic

from bot.channels import client_address
from bot.channels.masking import MAX_MESSAGE_CHARS
from bot.channels.notices import load_notices
from bot.channels.rate_limit import RateLimit, RateLimitError, SlidingWindowLimiter, limits_from_env
from bot.channels.voice.speech import speakable
from bot.channels.web.rest import RestChannel
from bot.channels.web.socketio import SocketIOChannel
from bot.rasa_patches import proxy
from knowledge.loader import KNOWLEDGE_DIR, load_contacts
from tests import test_voice_channel as voice, test_wechat_channel as wechat

NOTICES = load_notices()
POLICE = load_contacts(KNOWLEDGE_DIR / "contacts.yml")["police_110"].number


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Rasa:
    """Stands in for Rasa's agent: records each message and answers through its output channel."""

    def __init__(self) -> None:
        self.received: list[UserMessage] = []

    async def __call__(self, message: UserMessage) -> None:
        self.received.append(message)
        await message.output_channel.send_text_message(message.sender_id, "收到")


# --- the limiter --------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def console_secret(monkeypatch) -> Iterator[None]:
    """The client key is derived from the console secret: the test's own, not var/keys/console.key."""
    monkeypatch.setenv("FANZHA_CONSOLE_SECRET", "s" * 40)
    client_address._key.cache_clear()
    yield
    client_address._key.cache_clear()


def test_the_settings_read_messages_per_seconds_or_off():
    assert RateLimit.parse("20/60") == RateLimit(20, 60.0)
    assert RateLimit.parse(" 5 / 1.5 ") == RateLimit(5, 1.5)
    assert RateLimit.parse("off") is None
    defaults = limits_from_env(Rasa(), {})
    assert defaults.sender.limit == RateLimit(20, 60.0)
    assert defaults.shared.address.limit == RateLimit(300, 60.0)  # a community hall shares one address
    assert defaults.shared.overall.limit == RateLimit(1000, 10.0)  # twice what the server answers
    off = {"FANZHA_RATE_LIMIT": "OFF", "FANZHA_RATE_LIMIT_ADDRESS": "off", "FANZHA_RATE_LIMIT_GLOBAL": "off"}
    limits = limits_from_env(Rasa(), off)
    assert (limits.sender, limits.shared.address, limits.shared.overall) == (None, None, None)
    for bad in ("20", "0/60", "20/0", "twenty/60", "-1/60"):
        with pytest.raises(RateLimitError, match="MESSAGES/SECONDS"):
            RateLimit.parse(bad)
    with pytest.raises(RateLimitError, match="FANZHA_RATE_LIMIT_ADDRESS"):
        limits_from_env(Rasa(), {"FANZHA_RATE_LIMIT_ADDRESS": "many"})


def test_a_sender_gets_the_limit_in_any_window_and_others_are_not_affected():
    clock = Clock()
    limiter = SlidingWindowLimiter(RateLimit(3, 60), clock)
    assert [limiter.allow("a") for _ in range(4)] == [True, True, True, False]
    assert limiter.allow("b")
    clock.now += 30
    assert not limiter.allow("a")  # the window slides: still three in the last 60 s
    clock.now += 30.5
    assert limiter.allow("a") and limiter.allow("a") and limiter.allow("a") and not limiter.allow("a")


def test_refused_messages_do_not_extend_the_wait():
    clock = Clock()
    limiter = SlidingWindowLimiter(RateLimit(1, 10), clock)
    assert limiter.allow("a")
    for _ in range(50):
        clock.now += 0.1
        assert not limiter.allow("a")
    clock.now += 5.1
    assert limiter.allow("a")


def test_idle_senders_are_forgotten():
    clock = Clock()
    limiter = SlidingWindowLimiter(RateLimit(2, 60), clock)
    for i in range(999):
        limiter.allow(f"sender-{i}")
    clock.now += 61
    limiter.allow("latest")  # the 1000th call sweeps
    assert limiter.senders == 1


def test_the_notice_names_the_emergency_number_from_contacts():
    assert POLICE and POLICE in NOTICES.rate_limited and POLICE in NOTICES.busy
    assert str(MAX_MESSAGE_CHARS) in NOTICES.truncated.format(max_chars=MAX_MESSAGE_CHARS)


# --- REST ---------------------------------------------------------------------------------


def rest_app(rasa: Rasa) -> Sanic:
    app = Sanic(f"rest_{uuid.uuid4().hex}")
    app.blueprint(RestChannel().blueprint(rasa), url_prefix="/webhooks/rest")
    return app


async def rest_say(app: Sanic, sender: str, text: str) -> list[str]:
    _, resp = await app.asgi_client.post("/webhooks/rest/webhook", json={"sender": sender, "message": text})
    assert resp.status == 200, resp.text
    return [m["text"] for m in resp.json]


async def test_rest_over_the_limit_is_not_sent_to_rasa_and_gets_the_notice(monkeypatch):
    monkeypatch.setenv("FANZHA_RATE_LIMIT", "3/60")
    rasa = Rasa()
    app = rest_app(rasa)
    for i in range(3):
        assert await rest_say(app, "resident", f"第{i}条") == ["收到"]
    assert await rest_say(app, "resident", "第4条：我的电话13812345678") == [NOTICES.rate_limited]
    assert [m.text for m in rasa.received] == ["第0条", "第1条", "第2条"]
    assert await rest_say(app, "neighbour", "你好") == ["收到"]  # per sender


async def test_rest_callers_cannot_dodge_the_limit_by_naming_another_input_channel(monkeypatch):
    monkeypatch.setenv("FANZHA_RATE_LIMIT", "1/60")
    rasa = Rasa()
    app = rest_app(rasa)
    for channel in ("rest", "other", "again"):
        await app.asgi_client.post(
            "/webhooks/rest/webhook", json={"sender": "resident", "message": "你好", "input_channel": channel}
        )
    assert len(rasa.received) == 1


async def test_rest_refuses_posts_from_other_web_sites(monkeypatch):
    monkeypatch.setenv("FANZHA_WIDGET_ORIGINS", "https://widget.example.gov.cn")
    rasa = Rasa()
    app = rest_app(rasa)
    body = '{"sender": "victim", "message": "我要转人工"}'
    url = "/webhooks/rest/webhook"
    _, refused = await app.asgi_client.post(url, content=body, headers={"content-type": "text/plain", "origin": "https://evil.example"})
    assert refused.status == 403 and rasa.received == []
    for origin in ("https://widget.example.gov.cn", None):  # a configured widget site; no browser at all
        headers = {"content-type": "application/json", **({"origin": origin} if origin else {})}
        _, accepted = await app.asgi_client.post(url, content=body, headers=headers)
        assert accepted.status == 200, accepted.text
    # The server's own pages (the outreach demo, the console): their origin is the server's host.
    own = {"host": "fanzha.example.org:5005", "origin": "http://fanzha.example.org:5005"}
    _, accepted = await app.asgi_client.post(url, content=body, headers=own)
    assert accepted.status == 200 and len(rasa.received) == 3


async def test_rest_ignores_a_client_set_input_channel():
    rasa = Rasa()
    app = rest_app(rasa)
    await app.asgi_client.post("/webhooks/rest/webhook", json={"sender": "r", "message": "你好", "input_channel": "voice"})
    assert [m.input_channel for m in rasa.received] == ["rest"]


async def test_rate_limiting_can_be_switched_off(monkeypatch):
    monkeypatch.setenv("FANZHA_RATE_LIMIT", "off")
    rasa = Rasa()
    app = rest_app(rasa)
    for i in range(30):
        await rest_say(app, "resident", f"第{i}条")
    assert len(rasa.received) == 30


async def test_a_long_message_is_cut_and_the_resident_is_told(monkeypatch):
    monkeypatch.setenv("FANZHA_RATE_LIMIT", "off")
    rasa = Rasa()
    app = rest_app(rasa)
    replies = await rest_say(app, "resident", "对方说" + "快点转账" * 1000)
    assert len(rasa.received[0].text) == MAX_MESSAGE_CHARS
    assert replies == ["收到", NOTICES.truncated.format(max_chars=MAX_MESSAGE_CHARS)]
    assert await rest_say(app, "resident", "短消息") == ["收到"]  # no notice when nothing was cut


# --- socket.io (the web widget) -------------------------------------------------------------


async def test_socketio_over_the_limit_is_not_sent_to_rasa_and_gets_the_notice(monkeypatch):
    monkeypatch.setenv("FANZHA_RATE_LIMIT", "2/60")
    rasa = Rasa()
    channel = SocketIOChannel()
    channel.blueprint(rasa)
    emitted: list[tuple[str, Any]] = []

    async def emit(event: str, data: Any = None, room: Any = None, **_: Any) -> None:
        emitted.append((room, data))

    channel.sio.emit = emit  # type: ignore[assignment]
    handle = channel.sio.handlers["/"]["user_uttered"]
    for i in range(3):
        await handle("sid-1", {"message": f"第{i}条"})
    await handle("sid-2", {"message": "你好"})
    assert [m.text for m in rasa.received] == ["第0条", "第1条", "你好"]
    assert emitted[2] == ("sid-1", {"text": NOTICES.rate_limited})


# --- WeChat -------------------------------------------------------------------------------


async def test_wechat_over_the_limit_is_not_sent_to_rasa_and_gets_the_notice(monkeypatch):
    for variable in wechat.ENVIRONMENT.values():
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("FANZHA_RATE_LIMIT", "2/60")
    h = wechat.harness()
    replies = [await h.ask(wechat.text_xml(f"第{i}条")) for i in range(3)]
    assert [r["Content"] for r in replies] == ["收到：第0条", "收到：第1条", NOTICES.rate_limited]
    assert h.bot.texts == ["第0条", "第1条"]
    other = await h.ask(wechat.text_xml("你好", user="oOther_resident"))
    assert other["Content"] == "收到：你好"


# --- the phone line -----------------------------------------------------------------------


async def test_voice_over_the_limit_is_not_sent_to_rasa_and_the_caller_hears_the_notice(monkeypatch):
    for name in (voice.AUTH_TOKEN_ENV, "FANZHA_TWILIO_ACCOUNT_SID", "FANZHA_TWILIO_FROM", "FANZHA_TWILIO_API_BASE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("FANZHA_RATE_LIMIT", "2/60")
    bot = voice.Bot()
    line = voice.Line(bot)
    await line.call()  # the greeting: not a turn of the assistant
    for text in ("我接到一个电话", "对方说是公安局的"):
        assert "请说说具体情况" in voice.said(await line.call(SpeechResult=text, Confidence="0.9"))
    third = voice.said(await line.call(SpeechResult="让我转到安全账户", Confidence="0.9"))
    assert speakable(NOTICES.rate_limited).text.rstrip("。") in third
    assert bot.texts == ["我接到一个电话", "对方说是公安局的"]


# --- per client address, and global -----------------------------------------------------------


async def rest_post(app: Sanic, sender: str, text: str = "你好", **headers: str) -> list[str]:
    _, resp = await app.asgi_client.post("/webhooks/rest/webhook", json={"sender": sender, "message": text},
                                         headers=headers)
    assert resp.status == 200, resp.text
    return [m["text"] for m in resp.json]


async def test_a_new_sender_id_per_message_is_refused_past_the_address_limit(monkeypatch):
    monkeypatch.setenv("FANZHA_RATE_LIMIT_ADDRESS", "5/60")
    rasa = Rasa()
    app = rest_app(rasa)
    replies = [await rest_post(app, uuid.uuid4().hex) for _ in range(7)]
    assert replies == [["收到"]] * 5 + [[NOTICES.busy]] * 2
    assert len(rasa.received) == 5


async def test_the_address_limit_can_be_switched_off(monkeypatch):
    monkeypatch.setenv("FANZHA_RATE_LIMIT_ADDRESS", "off")
    rasa = Rasa()
    app = rest_app(rasa)
    for _ in range(40):
        await rest_post(app, uuid.uuid4().hex)
    assert len(rasa.received) == 40


async def test_the_global_limit_counts_every_channel_of_the_assistant(monkeypatch):
    monkeypatch.setenv("FANZHA_RATE_LIMIT_ADDRESS", "off")
    monkeypatch.setenv("FANZHA_RATE_LIMIT_GLOBAL", "4/60")
    rasa = Rasa()
    app = rest_app(rasa)
    web_chat = WebChat(rasa)  # the same assistant: Rasa gives both channels one callback
    for n in range(3):
        assert await rest_post(app, f"rest-{n}") == ["收到"]
    await web_chat.say("sid-1", "网页上的第一条")
    assert await rest_post(app, "rest-new") == [NOTICES.busy]
    await web_chat.say("sid-2", "网页上的第二条")
    assert web_chat.emitted[-1] == ("sid-2", {"text": NOTICES.busy})
    assert len(rasa.received) == 4
    other = Rasa()  # another assistant in this process counts its own
    assert await rest_post(rest_app(other), "someone") == ["收到"]


async def test_without_a_proxy_setting_a_forged_forwarded_address_changes_nothing(monkeypatch):
    monkeypatch.setenv("FANZHA_RATE_LIMIT_ADDRESS", "3/60")
    rasa = Rasa()
    app = rest_app(rasa)
    replies = [await rest_post(app, uuid.uuid4().hex, **{"x-forwarded-for": f"198.51.100.{n}", "x-real-ip": f"198.51.100.{n}"})
               for n in range(5)]
    assert replies == [["收到"]] * 3 + [[NOTICES.busy]] * 2


async def test_behind_the_configured_proxy_the_forwarded_address_is_the_key(monkeypatch):
    monkeypatch.setenv("FANZHA_RATE_LIMIT_ADDRESS", "2/60")
    rasa = Rasa()
    app = rest_app(rasa)
    app.config.update(proxy.sanic_settings({"FANZHA_PROXIES_COUNT": "1"}))  # as proxy.install() sets every app

    async def via_proxy(client: str) -> list[str]:
        # The client forges an entry; the proxy appends the address it saw, which is the one trusted.
        return await rest_post(app, uuid.uuid4().hex, **{"x-forwarded-for": f"10.9.9.9, {client}"})

    assert [await via_proxy("203.0.113.5") for _ in range(3)] == [["收到"], ["收到"], [NOTICES.busy]]
    assert await via_proxy("203.0.113.6") == ["收到"]  # another resident behind the same proxy
    keys = [m.metadata["fanzha"]["client"] for m in rasa.received]
    assert keys[0] == keys[1] == client_address.client_key("203.0.113.5") != keys[2]


def test_the_proxy_settings_become_sanics_for_every_app(monkeypatch):
    from sanic.config import DEFAULT_CONFIG

    assert proxy.sanic_settings({}) == {}
    assert proxy.sanic_settings({"FANZHA_PROXIES_COUNT": "0"}) == {}
    assert proxy.sanic_settings({"FANZHA_REAL_IP_HEADER": "X-Real-IP", "FANZHA_FORWARDED_SECRET": "123456"}) == {
        "REAL_IP_HEADER": "x-real-ip", "FORWARDED_SECRET": "123456"}
    for name, bad in (("FANZHA_PROXIES_COUNT", "-1"), ("FANZHA_PROXIES_COUNT", "all"), ("FANZHA_REAL_IP_HEADER", "X Real: IP")):
        with pytest.raises(proxy.ProxySettingError, match=name):
            proxy.sanic_settings({name: bad})
        with pytest.raises(SystemExit, match=name):
            proxy.install({name: bad})
    for key in ("PROXIES_COUNT", "REAL_IP_HEADER", "FORWARDED_SECRET"):
        monkeypatch.setitem(DEFAULT_CONFIG, key, DEFAULT_CONFIG[key])  # restored after the test
    proxy.install({"FANZHA_PROXIES_COUNT": "1"})
    assert Sanic(f"proxied_{uuid.uuid4().hex}").config.PROXIES_COUNT == 1


async def test_the_web_chat_counts_each_connections_address(monkeypatch):
    """A real socket.io server: each new connection is a new sender, all from one address."""
    monkeypatch.setenv("FANZHA_RATE_LIMIT_ADDRESS", "2/60")
    rasa = Rasa()
    channel = SocketIOChannel()
    app = Sanic(f"web_chat_{uuid.uuid4().hex}")
    app.blueprint(channel.blueprint(rasa))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = await app.create_server(host="127.0.0.1", port=port, access_log=False, return_asyncio_server=True)
    await server.startup()
    heard: list[str] = []
    try:
        for _ in range(3):
            resident = socketio.AsyncClient(reconnection=False)
            resident.on("bot_uttered", lambda message: heard.append(message.get("text")))
            # Long-polling: the installed aiohttp (3.9) lacks what the client's WebSocket upgrade needs.
            await resident.connect(f"http://127.0.0.1:{port}", transports=["polling"], wait_timeout=10)
            await resident.call("user_uttered", {"message": "你好"}, timeout=10)
            await asyncio.sleep(0.2)  # the reply travels with the next poll
            await resident.eio.disconnect(abort=True)
    finally:
        server.close()
        await server.wait_closed()
    assert heard == ["收到", "收到", NOTICES.busy]
    assert len({m.sender_id for m in rasa.received}) == 2
    assert [m.metadata["fanzha"]["client"] for m in rasa.received] == [client_address.client_key("127.0.0.1")] * 2


async def test_the_client_key_is_not_the_address_and_a_client_cannot_set_it(monkeypatch):
    rasa = Rasa()
    app = rest_app(rasa)
    forged = {"fanzha": {"client": "forged", "truncated": True}, "page": "/chat"}
    _, resp = await app.asgi_client.post("/webhooks/rest/webhook", json={"sender": "r", "message": "你好", "metadata": forged})
    assert [m["text"] for m in resp.json] == ["收到"]  # no made-up "message was cut" notice
    (message,) = rasa.received
    assert message.metadata == {"page": "/chat", "fanzha": {"client": client_address.client_key("mockserver")}}
    key = message.metadata["fanzha"]["client"]
    assert "mockserver" not in key and len(key) == client_address.KEY_HEX_CHARS
    assert client_address.client_key("mockserver", date(2026, 1, 1)) != client_address.client_key("mockserver", date(2026, 1, 2))


async def test_wechat_is_limited_per_openid_not_by_the_address_of_wechats_servers(monkeypatch):
    for variable in wechat.ENVIRONMENT.values():
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("FANZHA_RATE_LIMIT_ADDRESS", "1/60")
    h = wechat.harness()
    replies = [await h.ask(wechat.text_xml("你好", user=f"oResident_{n}")) for n in range(3)]
    assert [r["Content"] for r in replies] == ["收到：你好"] * 3


class WebChat:
    """The socket.io channel's message handler, its emits recorded (no connection behind it)."""

    def __init__(self, rasa: Rasa) -> None:
        channel = SocketIOChannel()
        channel.blueprint(rasa)
        self.emitted: list[tuple[str, Any]] = []

        async def emit(event: str, data: Any = None, room: Any = None, **_: Any) -> None:
            self.emitted.append((room, data))

        channel.sio.emit = emit  # type: ignore[assignment]
        self.handle = channel.sio.handlers["/"]["user_uttered"]

    async def say(self, sid: str, text: str) -> None:
        await self.handle(sid, {"message": text})
