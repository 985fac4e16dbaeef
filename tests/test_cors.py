"""Which web sites may talk to the assistant: FANZHA_WIDGET_ORIGINS, the socket.io origin check
and the run command's handling of the setting. The real server's CORS headers are checked in
tests/test_log_privacy.py, which starts it."""
from __future__ import annotations

import json
import os
import subprocess
import uuid

import pytest
from sanic import Sanic

from bot.channels.socketio import SocketIOChannel
from bot.origins import OriginsError, origin_allowed, widget_origins
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


async def socketio_connect(app: Sanic, origin: str | None) -> str:
    """Engine.io handshake and socket.io CONNECT over long-polling; the server's answer packet."""
    headers = {"Host": OWN_HOST, **({"Origin": origin} if origin else {})}
    query = {"EIO": "4", "transport": "polling"}
    _, opened = await app.asgi_client.get("/socket.io/", params=query, headers=headers)
    assert opened.status == 200, opened.text
    sid = json.loads(opened.text[1:])["sid"]
    query["sid"] = sid
    _, sent = await app.asgi_client.post("/socket.io/", params=query, content="40", headers=headers)
    assert sent.status == 200, sent.text
    _, answer = await app.asgi_client.get("/socket.io/", params=query, headers=headers)
    return answer.text


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
    answer = await socketio_connect(app, origin)
    assert answer.startswith("40") is connects, answer
    assert answer.startswith("44") is not connects


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
