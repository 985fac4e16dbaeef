"""Console logins cannot be guessed at full speed: back-off per name and per address."""
from __future__ import annotations

import uuid

from sanic import Sanic

from bot.channels.console.channel import LOGIN_MARK, AgentConsoleChannel
from bot.services.console_auth import LoginThrottle, Sessions


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_failures_past_the_free_ones_lock_for_longer_each_time():
    clock = Clock()
    throttle = LoginThrottle(free=3, first_lock=30, max_lock=100, clock=clock)
    for _ in range(3):
        throttle.failed("name:li")
    assert throttle.wait_seconds("name:li") == 0
    throttle.failed("name:li")
    assert throttle.wait_seconds("name:li") == 30
    assert throttle.wait_seconds("name:wang") == 0  # other names are free
    clock.now += 30
    throttle.failed("name:li")
    assert throttle.wait_seconds("name:li") == 60
    clock.now += 60
    throttle.failed("name:li")
    assert throttle.wait_seconds("name:li") == 100  # capped
    throttle.succeeded("name:li")
    assert throttle.wait_seconds("name:li") == 0


def test_old_failures_are_forgotten():
    clock = Clock()
    throttle = LoginThrottle(free=2, window=60, clock=clock)
    throttle.failed("address:1.2.3.4")
    throttle.failed("address:1.2.3.4")
    clock.now += 61
    throttle.failed("address:1.2.3.4")
    assert throttle.wait_seconds("address:1.2.3.4") == 0


class Agents:
    """Stands in for the ticket store: one agent, and how often a password was checked."""

    def __init__(self) -> None:
        self.checked = 0

    def verify_agent(self, name: str, password: str) -> bool:
        self.checked += 1
        return name == "duty" and password == "right-password"

    def session_open(self, sid: str, agent: str) -> bool:
        return True


async def test_the_console_refuses_a_locked_login_before_checking_the_password(tmp_path):
    channel = AgentConsoleChannel(sessions=Sessions(b"k" * 40))
    channel._tickets = agents = Agents()
    app = Sanic(f"console_{uuid.uuid4().hex}")
    app.blueprint(channel.blueprint(None), url_prefix=channel.url_prefix())  # as Rasa mounts it
    headers = {"x-requested-with": LOGIN_MARK}

    async def login(password: str) -> tuple[int, dict]:
        _, resp = await app.asgi_client.post("/console/api/login", json={"name": "duty", "password": password},
                                             headers=headers)
        return resp.status, resp.json

    statuses = [(await login(f"guess-{i}"))[0] for i in range(8)]
    assert statuses[:6] == [401] * 6 and set(statuses[6:]) == {429}  # 5 free failures, the 6th locks
    assert agents.checked == 6  # the locked tries cost no password hashing
    status, body = await login("right-password")  # even the right password waits
    assert status == 429 and "秒后再试" in body["error"] and body["retry_after"] > 0
