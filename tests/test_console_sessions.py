"""Console sessions end everywhere: a logout, ``fanzha agent passwd`` or ``fanzha agent disable``
ends them on every Rasa server sharing the database and after a restart (each server here is a
console channel with its own memory, as a replica is); the cookie is Secure when the console is
reached over HTTPS, directly or through the proxy the server trusts."""
from __future__ import annotations

import os
import subprocess
import uuid
from http.cookies import SimpleCookie
from typing import Callable, Iterator

import pytest
from cryptography.fernet import Fernet
from sanic import Sanic

from bot.channels.console.channel import LOGIN_MARK, AgentConsoleChannel
from bot.services.console_auth import COOKIE, Sessions
from bot.services.handoff import TicketStore
from bot.services.reports.store import ReportStore
from tests.conftest import ROOT

SECRET = b"console-secret-shared-by-every-replica-0123"
AGENTS = {"duty.wang": "wang-password-42", "duty.li": "li-password-4242"}
FANZHA = str(ROOT / ".venv" / "bin" / "fanzha")


@pytest.fixture
def replicas(tmp_path, monkeypatch) -> Iterator[Callable[[], Sanic]]:
    """Start a "replica": a Rasa server's console on the one shared database and console key."""
    monkeypatch.setenv("FANZHA_DATABASE_URL", f"sqlite:///{tmp_path / 'fanzha.db'}")
    monkeypatch.setenv("FANZHA_REPORT_KEY", Fernet.generate_key().decode())
    monkeypatch.chdir(tmp_path)
    with ReportStore() as store:
        for name, password in AGENTS.items():
            TicketStore(store).add_agent(name, password)
    channels: list[AgentConsoleChannel] = []

    def start() -> Sanic:
        channel = AgentConsoleChannel(sessions=Sessions(SECRET))
        channels.append(channel)
        app = Sanic(f"console_{uuid.uuid4().hex}")
        app.blueprint(channel.blueprint(None), url_prefix=channel.url_prefix())  # as Rasa mounts it
        return app

    yield start
    for channel in channels:
        if channel._tickets is not None:
            channel._tickets.store.close()


async def login(app: Sanic, name: str = "duty.wang", password: str | None = None, url: str = "/console/api/login",
                headers: dict[str, str] | None = None) -> tuple[str, str]:
    """The session cookie's value and the whole Set-Cookie header."""
    _, response = await app.asgi_client.post(
        url, json={"name": name, "password": password or AGENTS[name]}, headers={"x-requested-with": LOGIN_MARK, **(headers or {})}
    )
    assert response.status == 200, response.text
    header = response.headers["set-cookie"]
    return SimpleCookie(header)[COOKIE].value, header


async def me(app: Sanic, cookie: str) -> int:
    _, response = await app.asgi_client.get("/console/api/me", cookies={COOKIE: cookie})
    return response.status


async def logout(app: Sanic, cookie: str, url: str = "/console/api/logout", headers: dict[str, str] | None = None) -> str:
    """Log out; the Set-Cookie header that removes the cookie."""
    _, current = await app.asgi_client.get("/console/api/me", cookies={COOKIE: cookie})
    _, response = await app.asgi_client.post(
        url, cookies={COOKIE: cookie}, headers={"x-csrf-token": current.json["csrf"], **(headers or {})}
    )
    assert response.status == 200, response.text
    return response.headers["set-cookie"]


def agent_command(*args: str, password: str | None = None) -> None:
    done = subprocess.run(
        [FANZHA, "agent", *args, *(["--password-stdin"] if password else [])], input=(password or "") + "\n",
        capture_output=True, text=True, env=os.environ.copy(), timeout=60,
    )
    assert done.returncode == 0, done.stderr


async def test_a_logout_ends_the_session_on_every_replica_and_after_a_restart(replicas):
    a, b = replicas(), replicas()
    wang, _ = await login(a)
    second_desk, _ = await login(b)  # the same agent logged in at another desk
    assert [await me(a, wang), await me(b, wang)] == [200, 200]
    await logout(a, wang)
    assert [await me(a, wang), await me(b, wang)] == [401, 401], "the logged-out cookie still works on a replica"
    assert await me(replicas(), wang) == 401, "the logged-out cookie works again after a restart"
    assert await me(a, second_desk) == 200, "a logout ends that session only"


async def test_a_new_password_or_disabling_ends_the_agents_sessions_everywhere(replicas):
    a, b = replicas(), replicas()
    wang, _ = await login(a)
    li, _ = await login(b, "duty.li")
    agent_command("passwd", "duty.wang", password="wang-new-password-43")
    assert [await me(a, wang), await me(b, wang), await me(replicas(), wang)] == [401, 401, 401]
    assert await me(a, li) == 200, "another agent's session goes on"
    fresh, _ = await login(b, "duty.wang", "wang-new-password-43")
    assert await me(a, fresh) == 200

    # A disabled agent's cookie must stay dead when the agent is enabled again (passwd enables).
    agent_command("disable", "duty.li")
    assert await me(a, li) == 401
    agent_command("passwd", "duty.li", password="li-new-password-4343")
    assert [await me(a, li), await me(b, li)] == [401, 401], "re-enabling the agent revived an old session"


def cookie_attributes(header: str) -> set[str]:
    return {part.strip().split("=")[0].lower() for part in header.split(";")[1:]}


@pytest.mark.parametrize(
    "base, proxies_count, headers, secure",
    [
        ("http://127.0.0.1:5005", 0, {}, False),  # `make run`: plain HTTP on loopback
        ("https://fanzha.example.org", 0, {}, True),  # TLS ends at the server itself
        # Behind the TLS proxy the server trusts (Sanic's PROXIES_COUNT): its forwarded scheme.
        ("http://10.0.0.5:5005", 1, {"x-forwarded-for": "203.0.113.7", "x-forwarded-proto": "https"}, True),
        # Without a trusted proxy, a client's own header changes nothing.
        ("http://10.0.0.5:5005", 0, {"x-forwarded-for": "203.0.113.7", "x-forwarded-proto": "https"}, False),
    ],
)
async def test_both_cookies_are_secure_behind_tls_and_always_httponly_and_strict(replicas, base, proxies_count, headers, secure):
    app = replicas()
    app.config.PROXIES_COUNT = proxies_count
    cookie, issued = await login(app, url=f"{base}/console/api/login", headers=headers)
    removed = await logout(app, cookie, url=f"{base}/console/api/logout", headers=headers)
    for header in (issued, removed):
        attributes = cookie_attributes(header)
        assert {"httponly", "samesite", "path"} <= attributes and "SameSite=Strict" in header, header
        assert ("secure" in attributes) is secure, header
    assert "Max-Age=0" in removed
