"""Only the Rasa server may run actions (issue #17, item 3).

Before, anything that reached the action server's port ran any action on a tracker it made up,
including a text/plain POST, which any web page in a local browser may send: a call-back stored
for any number, a duty-desk ticket, and with SMS set up a stored report decrypted by its
reference and texted to a number of the sender's choosing. Here the real action server (started
as scripts/run.sh starts it, with SMS pointed at a local stand-in for Twilio) must refuse every
such call with 401 and do nothing, run the same call with the Rasa server's secret, and bound
raw and compressed bodies. The Rasa server's side: it shows the secret on every call.
"""
from __future__ import annotations

import http.client
import json
import os
import subprocess
import time
import uuid
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import pytest
import requests
from aiohttp import web
from cryptography.fernet import Fernet

from actions.caller_check import MAX_CALL_BYTES, required_token
from bot.services.action_token import ENV_ACTION_TOKEN, HEADER, header_value
from bot.services.handoff import TicketStore
from bot.services.reports.store import ReportStore
from tests.assistant import Assistant, free_port
from tests.bad_inputs import DEFLATE_BOMB
from tests.conftest import ROOT
from tests.fake_twilio import FROM, SID, TOKEN, FakeTwilio
from tests.http_stub import stub_server

RASA = str(ROOT / ".venv" / "bin" / "rasa")
VICTIM_PHONE = "+8613912345678"  # the number a forged call asks the report to be texted to


class TwilioRecorder(FakeTwilio):
    received: list[dict] = []


@dataclass
class ActionServer:
    url: str
    token: str
    env: dict[str, str]
    reference: str  # a stored report's reference number

    def store(self) -> ReportStore:
        return ReportStore(self.env["FANZHA_DATABASE_URL"], create=False, env=self.env)

    def headers(self, token: str | None = None) -> dict[str, str]:
        return {HEADER: header_value(token or self.token)}


def start_action_server(env: dict[str, str], port: int, log: Path) -> subprocess.Popen:
    """As scripts/run.sh starts it."""
    return subprocess.Popen([RASA, "run", "actions", "--actions", "actions", "-p", str(port), "--quiet"],
                            cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)


@pytest.fixture(scope="module")
def twilio() -> Iterator[str]:
    with stub_server(TwilioRecorder) as url:
        yield url


@pytest.fixture(scope="module")
def action_server(tmp_path_factory: pytest.TempPathFactory, twilio: str) -> Iterator[ActionServer]:
    tmp = tmp_path_factory.mktemp("action_server")
    env = {
        **os.environ,
        "FANZHA_DATABASE_URL": f"sqlite:///{tmp / 'fanzha.db'}",
        "FANZHA_REPORT_KEY": Fernet.generate_key().decode(),
        "FANZHA_REPORT_QUEUE": str(tmp / "report_queue"),
        "FANZHA_DUTY_HOURS": "00:00-24:00",  # the desk is staffed: a handoff opens a ticket
        "FANZHA_TWILIO_ACCOUNT_SID": SID, "FANZHA_TWILIO_AUTH_TOKEN": TOKEN, "FANZHA_TWILIO_FROM": FROM,
        "FANZHA_TWILIO_API_BASE": twilio,
        "NO_PROXY": "127.0.0.1,localhost",
        "SANIC_HOST": "127.0.0.1",
        ENV_ACTION_TOKEN: "actions-" + uuid.uuid4().hex,
    }
    with ReportStore(env["FANZHA_DATABASE_URL"], env=env) as store:
        reference = store.save_report({"report_amount": "两万", "report_payment_channel": "alipay"},
                                      channel="rest", scam_type="fake_customer_service", sender="resident-1").reference
    port = free_port()
    process = start_action_server(env, port, tmp / "actions.log")
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            if requests.get(f"{url}/health", timeout=2).ok:
                break
        except requests.ConnectionError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail("the action server did not start:\n" + (tmp / "actions.log").read_text()[-3000:])
        time.sleep(0.3)
    yield ActionServer(url, env[ENV_ACTION_TOKEN], env, reference)
    process.terminate()
    process.wait(timeout=30)


def action_call(action: str, sender: str, text: str, slots: dict[str, Any] | None = None,
                events: list[dict] | None = None, channel: str = "socketio") -> dict[str, Any]:
    """A call as Rasa 3.6 sends it to /webhook."""
    said = {"event": "user", "text": text, "input_channel": channel, "parse_data": {"text": text, "intent": {"name": "inform"}}}
    return {
        "next_action": action,
        "sender_id": sender,
        "version": "3.6.21",
        "tracker": {
            "sender_id": sender,
            "slots": slots or {},
            "latest_message": {"text": text, "intent": {"name": "inform"}, "entities": []},
            "events": events or [said],
            "paused": False,
            "latest_input_channel": channel,  # the web chat: one an agent's reply reaches
            "active_loop": {},
            "latest_action_name": "action_listen",
        },
    }


def the_three_attacks(server: ActionServer, sender: str) -> list[dict[str, Any]]:
    return [
        action_call("action_send_summary_sms", sender, f"发到 {VICTIM_PHONE}", {"report_reference": server.reference}),
        action_call("action_request_callback", sender, "请给我回电 13812345678"),
        action_call("action_handoff", sender, "转人工"),
    ]


def effects(server: ActionServer, sender: str) -> dict[str, int]:
    with server.store() as store:
        return {
            "sms": sum(1 for sms in TwilioRecorder.received if sms["form"].get("To") == VICTIM_PHONE
                       and server.reference in sms["form"].get("Body", "")),
            "callbacks": len(store.callbacks_for_sender(sender)),
            "tickets": int(TicketStore(store).active_for(sender) is not None),
        }


def forged(kind: str, server: ActionServer, call: dict[str, Any]) -> requests.Response:
    url, body = f"{server.url}/webhook", json.dumps(call)
    if kind == "text/plain, as a web page sends it":
        return requests.post(url, data=body, headers={"Content-Type": "text/plain;charset=UTF-8"}, timeout=30)
    if kind == "JSON, no secret":
        return requests.post(url, json=call, timeout=30)
    if kind == "a wrong secret":
        return requests.post(url, json=call, headers=server.headers("wrong-" + uuid.uuid4().hex), timeout=30)
    if kind == "the secret without its scheme":
        return requests.post(url, json=call, headers={HEADER: server.token}, timeout=30)
    if kind == "the secret cut short":
        return requests.post(url, json=call, headers=server.headers(server.token[:-1]), timeout=30)
    if kind == "the secret in the query string":
        return requests.post(url, json=call, params={"token": server.token}, timeout=30)
    raise AssertionError(kind)


FORGERIES = ["text/plain, as a web page sends it", "JSON, no secret", "a wrong secret", "the secret without its scheme",
             "the secret cut short", "the secret in the query string"]


@pytest.mark.parametrize("kind", FORGERIES)
def test_a_forged_call_is_refused_and_runs_nothing(action_server: ActionServer, kind: str) -> None:
    sender = "forger-" + uuid.uuid4().hex
    for call in the_three_attacks(action_server, sender):
        response = forged(kind, action_server, call)
        assert response.status_code == 401, (call["next_action"], response.text[:300])
        assert response.headers["WWW-Authenticate"] == "Bearer"
        assert set(response.json()) == {"error"}
    assert effects(action_server, sender) == {"sms": 0, "callbacks": 0, "tickets": 0}


def test_the_rasa_servers_secret_runs_the_actions(action_server: ActionServer) -> None:
    """The same calls with the secret: each has its effect (so the refusals above are not luck)."""
    sender = "resident-" + uuid.uuid4().hex
    for call in the_three_attacks(action_server, sender):
        response = requests.post(f"{action_server.url}/webhook", json=call, headers=action_server.headers(), timeout=30)
        assert response.status_code == 200, (call["next_action"], response.text[:300])
    assert effects(action_server, sender) == {"sms": 1, "callbacks": 1, "tickets": 1}


def test_only_health_answers_without_the_secret(action_server: ActionServer) -> None:
    assert requests.get(f"{action_server.url}/health", timeout=10).json() == {"status": "ok"}
    assert requests.get(f"{action_server.url}/actions", timeout=10).status_code == 401
    listed = requests.get(f"{action_server.url}/actions", headers=action_server.headers(), timeout=10)
    assert {"name": "action_send_summary_sms"} in listed.json()


def test_a_long_conversation_fits_the_body_limit(action_server: ActionServer) -> None:
    """300 turns of pasted text, about 2 MB (a 200-turn conversation measured 1.1 MB): answered."""
    pasted = "您好，这里是客服，您的订单出现问题需要退款，请按提示操作。" * 20
    events = [event for turn in range(300) for event in (
        {"event": "user", "text": f"{turn} {pasted}", "parse_data": {"text": f"{turn} {pasted}", "intent": {"name": "inform"}}},
        {"event": "bot", "text": "请不要按对方说的操作。"},
    )]
    call = action_call("action_check_scam", "long-" + uuid.uuid4().hex, pasted, events=events)
    body = json.dumps(call).encode()
    assert 1_500_000 < len(body) < MAX_CALL_BYTES
    response = requests.post(f"{action_server.url}/webhook", data=body, headers=action_server.headers(), timeout=60)
    assert response.status_code == 200, response.text[:300]


def declared_too_large(server: ActionServer, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    """Headers that announce a body one byte over the limit, and none of the body: the answer."""
    connection = http.client.HTTPConnection("127.0.0.1", int(server.url.rsplit(":", 1)[1]), timeout=10)
    connection.putrequest("POST", "/webhook")
    for name, value in {**headers, "Content-Type": "application/json", "Content-Length": str(MAX_CALL_BYTES + 1)}.items():
        connection.putheader(name, value)
    connection.endheaders()
    response = connection.getresponse()
    answer = response.status, json.loads(response.read())
    connection.close()
    return answer


def test_an_oversized_body_is_refused_from_its_length(action_server: ActionServer) -> None:
    status, answer = declared_too_large(action_server, action_server.headers())
    assert status == 413 and "size limit" in answer["error"]
    assert declared_too_large(action_server, {})[0] == 401  # without the secret, not even read


def test_a_deflate_bomb_is_refused_quickly(action_server: ActionServer) -> None:
    """64 MiB of spaces in 64 KB: unpacked no further than the limit, then 413."""
    assert len(DEFLATE_BOMB) < 100_000
    started = time.monotonic()
    response = requests.post(f"{action_server.url}/webhook", data=DEFLATE_BOMB,
                             headers={**action_server.headers(), "Content-Encoding": "deflate"}, timeout=30)
    assert response.status_code == 413, response.text[:300]
    assert time.monotonic() - started < 2
    unsigned = requests.post(f"{action_server.url}/webhook", data=DEFLATE_BOMB, headers={"Content-Encoding": "deflate"}, timeout=30)
    assert unsigned.status_code == 401
    assert requests.get(f"{action_server.url}/health", timeout=10).ok


def test_a_deflated_call_is_still_answered_and_gzip_is_refused(action_server: ActionServer) -> None:
    """Rasa deflates calls when COMPRESS_ACTION_SERVER_REQUEST is set; it never sends gzip."""
    call = json.dumps(action_call("action_check_scam", "deflated-" + uuid.uuid4().hex, "有人让我转到安全账户")).encode()
    deflated = requests.post(f"{action_server.url}/webhook", data=zlib.compress(call),
                             headers={**action_server.headers(), "Content-Encoding": "deflate"}, timeout=30)
    assert deflated.status_code == 200, deflated.text[:300]
    assert deflated.json()["responses"]
    gzipped = zlib.compressobj(wbits=31)
    body = gzipped.compress(call) + gzipped.flush()
    refused = requests.post(f"{action_server.url}/webhook", data=body,
                            headers={**action_server.headers(), "Content-Encoding": "gzip"}, timeout=30)
    assert refused.status_code == 415 and "gzip" in refused.json()["error"]


@pytest.mark.parametrize("token", ["", "   ", "short-secret"], ids=["unset", "blank", "too-short"])
def test_without_a_proper_secret_the_action_server_does_not_start(tmp_path: Path, token: str) -> None:
    env = {**os.environ, ENV_ACTION_TOKEN: token, "FANZHA_DATABASE_URL": f"sqlite:///{tmp_path / 'fanzha.db'}",
           "FANZHA_REPORT_KEY": Fernet.generate_key().decode(), "SANIC_HOST": "127.0.0.1"}
    if not token:
        del env[ENV_ACTION_TOKEN]
    port = free_port()
    process = start_action_server(env, port, tmp_path / "actions.log")
    try:
        assert process.wait(timeout=120) != 0
    finally:
        if process.poll() is None:
            process.kill()
    assert f"{ENV_ACTION_TOKEN} must hold a secret" in (tmp_path / "actions.log").read_text()


def test_the_secret_is_read_without_surrounding_whitespace() -> None:
    secret = "s" * 43
    assert required_token({ENV_ACTION_TOKEN: f" {secret}\n"}) == secret
    with pytest.raises(ValueError, match=ENV_ACTION_TOKEN):
        required_token({})


async def test_the_rasa_server_shows_the_secret_on_every_call(monkeypatch: pytest.MonkeyPatch) -> None:
    from rasa.core.actions.action import RemoteAction
    from rasa.core.channels.channel import CollectingOutputChannel
    from rasa.core.nlg import TemplatedNaturalLanguageGenerator
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.events import UserUttered
    from rasa.shared.core.trackers import DialogueStateTracker
    from rasa.utils.endpoints import EndpointConfig

    from bot.rasa_patches import action_guard
    from bot.services.breaker import Breaker
    from tests.stand_in import serving

    shown: list[str | None] = []

    async def webhook(request: web.Request) -> web.Response:
        shown.append(request.headers.get(HEADER))
        return web.json_response({"events": [], "responses": []})

    monkeypatch.setenv(ENV_ACTION_TOKEN, "rasa-side-" + uuid.uuid4().hex)
    monkeypatch.setattr(action_guard, "_breaker", Breaker(action_guard.RETRY_AFTER_S))
    monkeypatch.setattr(action_guard, "_caller_headers", action_guard._caller_headers)  # restored afterwards
    action_guard.install()
    tracker = DialogueStateTracker.from_events("resident", [UserUttered("有人让我转到安全账户")])
    try:
        async with serving("/webhook", webhook) as url:
            endpoint = EndpointConfig(f"{url}/webhook")
            for name in ("action_check_scam", "validate_report_form"):
                await RemoteAction(name, endpoint).run(CollectingOutputChannel(), TemplatedNaturalLanguageGenerator({}),
                                                       tracker, Domain.empty())
    finally:
        action_guard.uninstall()
    assert shown == [header_value(os.environ[ENV_ACTION_TOKEN])] * 2


def test_the_run_command_shares_the_secret_only_between_its_servers(shared_assistant: Assistant, knowledge) -> None:
    """scripts/run.sh: a resident's message still runs the scam check on the action server, a
    forged call to that action server is refused, and the secret is on no command line."""
    assistant = shared_assistant
    replies = assistant.say("有人打电话自称是公安局的，说我涉嫌洗钱，让我把钱转到安全账户")
    said = "\n".join(reply.get("text", "") for reply in replies)
    assert knowledge.scam_types["impersonate_police"].name in said  # the action's verdict, not the fallback
    call = action_call("action_request_callback", "forger-" + uuid.uuid4().hex, "请给我回电 13812345678")
    forged = requests.post(f"http://127.0.0.1:{assistant.actions_port}/webhook", data=json.dumps(call),
                           headers={"Content-Type": "text/plain"}, timeout=30)
    assert forged.status_code == 401
    command_lines = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            command_lines.append(Path(f"/proc/{pid}/cmdline").read_bytes())
        except OSError:  # gone meanwhile
            pass
    assert any(b"run\x00actions" in line for line in command_lines)
    assert not [line for line in command_lines if assistant.action_token.encode() in line]
