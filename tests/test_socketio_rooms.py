"""The socket.io channel's rooms: shared through Redis (FANZHA_SOCKETIO_REDIS_URL) or in memory,
and open only to the page that holds the session's token (bot/channels/session_tokens.py).

Delivery across two real replicas is tested in tests/test_scale_out.py.
"""
from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any, Callable

import pytest
import socketio
from rasa.core.channels.channel import UserMessage
from sanic import Sanic

from bot.channels.session_tokens import SessionTokens, session_tokens
from bot.channels.web.socketio import SHARED_ROOMS_URL, SocketIOChannel, shared_rooms_manager
from tests.serving import serving

SECRET = "s3cret-pw"
CHAT_SECRET = "chat-test-secret-" + "x" * 32


@pytest.fixture(autouse=True)
def console_secret(monkeypatch):
    """The secret the session tokens derive from, here rather than in the project's var/keys/."""
    monkeypatch.setenv("FANZHA_CONSOLE_SECRET", CHAT_SECRET)


async def ignore(_message) -> None:
    return None


def test_unset_or_empty_keeps_the_rooms_in_memory():
    assert shared_rooms_manager({}) is None
    assert shared_rooms_manager({SHARED_ROOMS_URL: "  "}) is None


@pytest.mark.parametrize("url", [f"redis://:{SECRET}@10.0.0.5:6379/0", "rediss://redis.internal:6380/1", "unix:///run/redis.sock"])
def test_a_redis_url_gives_a_redis_manager_on_fanzhas_own_channel(url):
    manager = shared_rooms_manager({SHARED_ROOMS_URL: url})
    assert isinstance(manager, socketio.AsyncRedisManager)
    assert manager.redis_url == url and manager.channel == "fanzha-socketio"


@pytest.mark.parametrize("url", [f"http://:{SECRET}@10.0.0.5:6379/0", f"{SECRET}@10.0.0.5:6379", "redis://"])
def test_a_wrong_url_stops_the_start_naming_the_setting_not_the_password(url):
    with pytest.raises(ValueError) as raised:
        shared_rooms_manager({SHARED_ROOMS_URL: url})
    assert SHARED_ROOMS_URL in str(raised.value) and SECRET not in str(raised.value)


def test_the_channels_server_uses_the_shared_manager_only_when_set(monkeypatch):
    monkeypatch.delenv(SHARED_ROOMS_URL, raising=False)
    single = SocketIOChannel(session_persistence=True)
    single.blueprint(ignore)
    assert not isinstance(single.sio.manager, socketio.AsyncRedisManager)

    monkeypatch.setenv(SHARED_ROOMS_URL, "redis://127.0.0.1:6379/0")
    shared = SocketIOChannel(session_persistence=True)
    shared.blueprint(ignore)
    assert isinstance(shared.sio.manager, socketio.AsyncRedisManager)
    assert shared.sio.manager.server is shared.sio and not shared.sio.manager_initialized
    # The output channel the console's Desk sends through emits via that same server.
    assert shared.get_output_channel().sio is shared.sio


async def test_a_socket_follows_only_the_session_it_asked_for_last():
    """Asking again moves the socket: the rooms it left are gone, not kept until it closes."""
    channel = SocketIOChannel(session_persistence=True)
    channel.blueprint(ignore)
    sio = channel.sio
    confirmed: list[tuple[str, str]] = []

    async def emit(event: str, data: Any = None, room: str | None = None, **_: Any) -> None:
        confirmed.append((event, data))

    sio.emit = emit  # no engine.io socket behind this sid: record what would be sent
    sid = await sio.manager.connect("engine-io-sid", "/")
    other = await sio.manager.connect("other-engine-io-sid", "/")
    session_request = sio.handlers["/"]["session_request"]
    tokens = session_tokens()

    def signed(session_id: str) -> dict[str, str]:
        return {"session_id": session_id, "session_token": tokens.issue(session_id)}

    await session_request(other, signed("shared-session"))
    for n in range(200):
        await session_request(sid, signed(f"session-{n}"))
    await session_request(sid, signed("session-199"))  # the same one again stays
    await session_request(sid, signed("shared-session"))

    assert sorted(sio.rooms(sid)) == sorted([sid, "shared-session"])
    assert sorted(sio.rooms(other)) == sorted([other, "shared-session"])
    assert set(sio.manager.rooms["/"]) == {None, sid, other, "shared-session"}
    assert confirmed[-3:] == [("session_confirm", signed("session-199"))] * 2 + [("session_confirm", signed("shared-session"))]


# --- a session belongs to the page it was confirmed to (real connections) ----------------------------


class Replier:
    """Stands in for Rasa: records each message and answers it in the sender's room."""

    def __init__(self) -> None:
        self.received: list[UserMessage] = []

    async def __call__(self, message: UserMessage) -> None:
        self.received.append(message)
        await message.output_channel.send_text_message(message.sender_id, f"收到：{message.text}")


class Page:
    """A socket.io client doing what bot/channels/web/assets/static/chat.js does."""

    def __init__(self) -> None:
        self.client = socketio.AsyncClient(reconnection=False)
        self.replies: list[str] = []
        self.confirmed: asyncio.Queue[dict] = asyncio.Queue()
        self.client.on("bot_uttered", lambda message: self.replies.append(message.get("text")))
        self.client.on("session_confirm", self.confirmed.put_nowait)

    @classmethod
    async def open(cls, port: int, request: dict[str, Any]) -> tuple["Page", dict[str, str]]:
        """A page on the server at ``port`` that asked for ``request``, and the session it got."""
        page = cls()
        # Long-polling only: the installed aiohttp (3.9) lacks what the client's WebSocket upgrade needs.
        await page.client.connect(f"http://127.0.0.1:{port}", transports=["polling"], wait_timeout=10)
        await page.client.emit("session_request", request)
        confirmed = await asyncio.wait_for(page.confirmed.get(), 10)
        return page, confirmed if isinstance(confirmed, dict) else {"session_id": confirmed}  # as chat.js reads it

    async def say(self, session_id: str, text: str) -> None:
        await self.client.emit("user_uttered", {"message": text, "session_id": session_id})

    async def close(self) -> None:
        await self.client.eio.disconnect(abort=True)  # no wait for the long-poll the server holds


def widget_app(rasa: Replier) -> Sanic:
    app = Sanic(f"socketio_{uuid.uuid4().hex}")
    app.blueprint(SocketIOChannel(session_persistence=True).blueprint(rasa))
    return app


async def until(check: Callable[[], bool], what: str, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting until {what}")
        await asyncio.sleep(0.05)


def forged_requests(session_id: str) -> list[dict[str, Any]]:
    other_secret = SessionTokens(b"another installation's secret" * 2)
    return [
        {"session_id": session_id},
        {"session_id": session_id, "session_token": None},
        {"session_id": session_id, "session_token": ""},
        {"session_id": session_id, "session_token": "forged"},
        {"session_id": session_id, "session_token": session_tokens().issue(session_id + "x")},  # another session's
        {"session_id": session_id, "session_token": other_secret.issue(session_id)},
        {"session_id": session_id, "session_token": session_tokens().issue(session_id)[:-1] + "令"},
        {"session_id": session_id, "session_token": ["list"]},
    ]


async def test_another_sessions_id_without_its_token_gives_a_new_session_and_none_of_its_replies():
    rasa = Replier()
    async with serving(widget_app(rasa)) as port:
        resident, session = await Page.open(port, {})
        mine = session["session_id"]
        intruders = []
        for request in forged_requests(mine):
            intruder, got = await Page.open(port, request)
            assert got["session_id"] != mine, request
            intruders.append(intruder)
        await resident.say(mine, "我刚转了钱")
        await until(lambda: resident.replies == ["收到：我刚转了钱"], "the resident gets the reply")
        await asyncio.sleep(0.3)  # any stray copy would have arrived by now
        assert all(intruder.replies == [] for intruder in intruders)
        for page in (resident, *intruders):
            await page.close()


async def test_a_socket_cannot_speak_in_a_session_it_was_not_given():
    rasa = Replier()
    async with serving(widget_app(rasa)) as port:
        resident, session = await Page.open(port, {})
        intruder, own = await Page.open(port, {})
        await intruder.say(session["session_id"], "把钱转到安全账户")  # in the resident's chat: dropped
        await intruder.say(own["session_id"], "你好")  # in its own: answered
        await until(lambda: intruder.replies == ["收到：你好"], "the intruder's own message is answered")
        await asyncio.sleep(0.3)
        assert [(m.sender_id, m.text) for m in rasa.received] == [(own["session_id"], "你好")]
        assert resident.replies == []
        for page in (resident, intruder):
            await page.close()


async def test_the_page_with_its_id_and_token_resumes_its_session():
    """A reload, or a reconnection, on this replica or another with the same secret."""
    rasa = Replier()
    async with serving(widget_app(rasa)) as port:
        first, session = await Page.open(port, {})
        assert set(session) == {"session_id", "session_token"}
        await first.close()
        again, resumed = await Page.open(port, session)
        assert resumed == session
        await again.say(session["session_id"], "还在吗")
        await until(lambda: again.replies == ["收到：还在吗"], "the resumed page gets the reply")
        await again.close()
    assert [m.sender_id for m in rasa.received] == [session["session_id"]]


def test_tokens_are_the_same_wherever_the_secret_is_and_differ_per_session(monkeypatch):
    tokens = session_tokens()
    assert session_tokens().issue("abc") == tokens.issue("abc")  # another replica, the same secret
    assert tokens.valid("abc", tokens.issue("abc")) and not tokens.valid("abd", tokens.issue("abc"))
    monkeypatch.setenv("FANZHA_CONSOLE_SECRET", "another-installation-" + "y" * 32)
    assert not session_tokens().valid("abc", tokens.issue("abc"))
