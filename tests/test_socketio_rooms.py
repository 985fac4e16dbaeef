"""FANZHA_SOCKETIO_REDIS_URL: the socket.io channel's rooms shared through Redis, or in memory.

Delivery across two real replicas is tested in tests/test_scale_out.py; these check the setting.
"""
from __future__ import annotations

from typing import Any

import pytest
import socketio

from bot.channels.socketio import SHARED_ROOMS_URL, SocketIOChannel, shared_rooms_manager

SECRET = "s3cret-pw"


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
    await session_request(other, {"session_id": "shared-session"})

    for n in range(200):
        await session_request(sid, {"session_id": f"session-{n}"})
    await session_request(sid, {"session_id": "session-199"})  # the same one again stays
    await session_request(sid, {"session_id": "shared-session"})

    assert sorted(sio.rooms(sid)) == sorted([sid, "shared-session"])
    assert sorted(sio.rooms(other)) == sorted([other, "shared-session"])
    assert set(sio.manager.rooms["/"]) == {None, sid, other, "shared-session"}
    assert confirmed[-3:] == [("session_confirm", "session-199")] * 2 + [("session_confirm", "shared-session")]
