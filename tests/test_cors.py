"""Which web sites may talk to the assistant: FANZHA_WIDGET_ORIGINS, the socket.io origin check,
the CORS headers (widget origins only, on the REST webhook and socket.io only, never with
credentials: not on /console or the HTTP API) and the run command's handling of the setting.
The real server's CORS headers on REST are also checked in tests/test_log_privacy.py."""
from __future__ import annotations

import json
import os
import subprocess
import uuid

import pytest
import rasa.server
from rasa.core.channels.channel import UserMessage, register
from sanic import Sanic

from bot.channels.console.channel import AgentConsoleChannel
from bot.channels.web.pages import WebPagesChannel
from bot.channels.web.rest import RestChannel
from bot.channels.web.socketio import SocketIOChannel
from bot.rasa_patches import origins
from bot.rasa_patches.origins import OriginsError, origin_allowed, widget_origins
from bot.services.console_auth import Sessions
from tests.conftest import ROOT

WIDGET = "https://widget.example.org"
FOREIGN = "https://evil.example.com"
OWN_HOST = "127.0.0.1:5005"


def test_origins_are_read_from_spaces_or_commas_and_default_to_none():
    assert widget_origins({}) == ()
    setting = {"FANZHA_WIDGET_ORIGINS": "https://A.example.org/, http://b.example.org:8080  https://a.example.org"}
    assert widget_origins(setting) == ("https://a.example.org", "http://b.example.org:8080")


@pytest.mark.parametrize("bad", ["*", "example.org", "https://example.org/chat", "ftp://example.org", "https://"])
def test_anything_but_an_origin_is_a_clear_error(bad):
    with pytest.raises(OriginsError, match="FANZHA_WIDGET_ORIGINS"):
        widget_origins({"FANZHA_WIDGET_ORIGINS": bad})


def test_the_servers_own_origin_and_non_browsers_are_always_allowed():
    environ = {"HTTP_HOST": OWN_HOST, "wsgi.url_scheme": "http"}
    assert origin_allowed(None, environ, ())
    assert origin_allowed(f"http://{OWN_HOST}", environ, ())
    assert not origin_allowed(FOREIGN, environ, ())
    assert origin_allowed(WIDGET, environ, (WIDGET,))
    behind_proxy = {**environ, "HTTP_X_FORWARDED_PROTO": "https", "HTTP_X_FORWARDED_HOST": "fanzha.example.org"}
    assert origin_allowed("https://fanzha.example.org", behind_proxy, ())


async def socketio_connect(app: Sanic, origin: str | None) -> tuple[str, dict[str, str]]:
    """Engine.io handshake and socket.io CONNECT over long-polling: the server's answer packet
    ("" when engine.io refused the origin outright) and the handshake's CORS headers."""
    headers = {"Host": OWN_HOST, **({"Origin": origin} if origin else {})}
    query = {"EIO": "4", "transport": "polling"}
    _, opened = await app.asgi_client.get("/socket.io/", params=query, headers=headers)
    cors = {k.lower(): v for k, v in opened.headers.items() if k.lower().startswith("access-control-")}
    if opened.status == 400 and "not an accepted origin" in opened.text:
        return "", cors
    assert opened.status == 200, opened.text
    sid = json.loads(opened.text[1:])["sid"]
    query["sid"] = sid
    _, sent = await app.asgi_client.post("/socket.io/", params=query, content="40", headers=headers)
    assert sent.status == 200, sent.text
    _, answer = await app.asgi_client.get("/socket.io/", params=query, headers=headers)
    return answer.text, cors


@pytest.mark.parametrize(
    "setting, origin, connects",
    [
        ("", FOREIGN, False),
        ("", WIDGET, False),
        ("", f"http://{OWN_HOST}", True),  # the /chat page the server serves itself
        ("", None, True),  # not a browser
        (WIDGET, WIDGET, True),
        (WIDGET, FOREIGN, False),
        (f"{WIDGET}, https://other.example.org", f"http://{OWN_HOST}", True),
    ],
)
async def test_socketio_accepts_only_its_own_and_the_configured_origins(monkeypatch, setting, origin, connects):
    monkeypatch.setenv("FANZHA_WIDGET_ORIGINS", setting)
    received = []

    async def rasa(message):
        received.append(message)

    app = Sanic(f"socketio_{uuid.uuid4().hex}")
    app.blueprint(SocketIOChannel().blueprint(rasa))
    answer, cors = await socketio_connect(app, origin)
    assert answer.startswith("40") is connects, answer
    # Long-polling is plain XHR: a widget site's script may read the answers, never with credentials.
    assert cors.get("access-control-allow-origin") == (origin if connects else None)
    assert "access-control-allow-credentials" not in cors


def test_the_run_command_refuses_a_malformed_setting_before_starting_anything(tmp_path):
    model = tmp_path / "model.tar.gz"
    model.write_bytes(b"not started")
    env = {
        **os.environ,
        "FANZHA_MODEL": str(model),
        "FANZHA_API_TOKEN": "unused",
        "FANZHA_WIDGET_ORIGINS": "https://ok.example.org *",
    }
    done = subprocess.run(["bash", "scripts/run.sh"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "FANZHA_WIDGET_ORIGINS: '*' is not an origin" in done.stderr
    assert "Starting fanzha" not in done.stdout


class StandInAgent:
    """Rasa's Agent as the channels call it: answers every message with one text."""

    async def handle_message(self, message: UserMessage) -> None:
        await message.output_channel.send_text_message(message.sender_id, "好的")


def rasa_app(monkeypatch: pytest.MonkeyPatch, cors_argument: list[str] | None) -> Sanic:
    """The Rasa server as `python -m bot.cli.rasa_server run --enable-api [--cors …]` builds it."""
    monkeypatch.setattr(rasa.server, "configure_cors", rasa.server.configure_cors)  # Rasa's own again after the test
    origins.install()
    app = rasa.server.create_app(cors_origins=cors_argument, auth_token="api-token")
    app.ctx.agent = StandInAgent()
    channels = [RestChannel(), SocketIOChannel(), WebPagesChannel(), AgentConsoleChannel(sessions=Sessions(b"k" * 40))]
    register(channels, app, route="/webhooks/")
    return app


def cors_headers(response) -> dict[str, str]:
    return {k.lower(): v for k, v in response.headers.items() if k.lower().startswith("access-control-")}


@pytest.mark.parametrize("cors_argument", [None, [WIDGET]], ids=["setting", "setting and --cors"])
async def test_cors_only_for_the_widget_routes_and_never_with_credentials(monkeypatch, cors_argument):
    monkeypatch.setenv("FANZHA_WIDGET_ORIGINS", WIDGET)
    app = rasa_app(monkeypatch, cors_argument)
    preflight = {"origin": WIDGET, "access-control-request-method": "POST", "access-control-request-headers": "content-type"}

    # The console and the HTTP API: no CORS at all, so a widget site's script cannot read them.
    for method, path in (("get", "/console/api/me"), ("options", "/console/api/me"), ("options", "/console/api/login"),
                         ("get", "/status"), ("options", "/model/parse"), ("options", "/conversations/x/tracker/events")):
        _, response = await getattr(app.asgi_client, method)(path, headers=preflight)
        assert cors_headers(response) == {}, (method, path, response.headers)

    # The REST webhook: the widget site may call it, without credentials; no other site may.
    _, allowed = await app.asgi_client.options("/webhooks/rest/webhook", headers=preflight)
    assert cors_headers(allowed)["access-control-allow-origin"] == WIDGET
    _, answered = await app.asgi_client.post("/webhooks/rest/webhook", json={"sender": "w", "message": "你好"}, headers={"origin": WIDGET})
    assert answered.status == 200 and answered.json == [{"recipient_id": "w", "text": "好的"}]
    assert cors_headers(answered) == {"access-control-allow-origin": WIDGET}
    for response in (allowed, answered):
        assert "access-control-allow-credentials" not in cors_headers(response)
    _, foreign = await app.asgi_client.options("/webhooks/rest/webhook", headers={**preflight, "origin": FOREIGN})
    assert cors_headers(foreign) == {}


async def test_without_widget_origins_no_route_sends_cors_headers(monkeypatch):
    monkeypatch.delenv("FANZHA_WIDGET_ORIGINS", raising=False)
    app = rasa_app(monkeypatch, None)
    for path in ("/webhooks/rest/webhook", "/console/api/login", "/model/parse"):
        _, response = await app.asgi_client.options(path, headers={"origin": WIDGET, "access-control-request-method": "POST"})
        assert cors_headers(response) == {}, path
