"""The run command end to end: scripts/run.sh starts both servers, they answer over REST,
and Ctrl-C stops everything it started."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import uuid
from pathlib import Path

import pytest
import requests

from tests.conftest import ROOT

MODEL = ROOT / "models" / "fanzha.tar.gz"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


class Assistant:
    def __init__(self, tmp: Path) -> None:
        assert MODEL.exists(), "no trained model: run 'make train' (make test does) before pytest"
        self.rasa_port, self.actions_port = _free_port(), _free_port()
        self.token = "test-token-" + uuid.uuid4().hex
        endpoints = tmp / "endpoints.yml"
        endpoints.write_text(
            f'action_endpoint:\n  url: "http://127.0.0.1:{self.actions_port}/webhook"\n'
            f'tracker_store:\n  type: SQL\n  dialect: "sqlite"\n  db: "{tmp / "tracker.db"}"\n',
            encoding="utf-8",
        )
        env = {
            **os.environ,
            "FANZHA_RASA_PORT": str(self.rasa_port),
            "FANZHA_ACTIONS_PORT": str(self.actions_port),
            "FANZHA_ENDPOINTS": str(endpoints),
            "FANZHA_API_TOKEN": self.token,
        }
        self.log = tmp / "run.log"
        self.process = subprocess.Popen(
            ["bash", "scripts/run.sh"], cwd=ROOT, env=env, stdout=self.log.open("w"),
            stderr=subprocess.STDOUT, start_new_session=True,
        )
        deadline = time.monotonic() + 180
        while "fanzha is ready." not in self.log.read_text(encoding="utf-8", errors="replace"):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                pytest.fail("the run command did not become ready:\n" + self.log.read_text()[-3000:])
            time.sleep(0.5)
        self.url = f"http://127.0.0.1:{self.rasa_port}"

    def say(self, text: str, sender: str | None = None) -> list[dict]:
        response = requests.post(
            f"{self.url}/webhooks/rest/webhook",
            json={"sender": sender or uuid.uuid4().hex, "message": text},
            timeout=30,
        )
        assert response.status_code == 200, response.text
        return response.json()

    def stop(self) -> int:
        """Ctrl-C, as a person at the terminal would press it (SIGINT to the process group)."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)
            try:
                return self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                return self.process.wait()
        return self.process.returncode


@pytest.fixture(scope="module")
def assistant(tmp_path_factory):
    running = Assistant(tmp_path_factory.mktemp("run"))
    yield running
    running.stop()


def _text(replies: list[dict]) -> str:
    return "\n".join(r.get("text", "") for r in replies)


def test_a_victim_is_told_to_call_110(assistant):
    replies = assistant.say("我被骗了怎么办")
    assert "110" in _text(replies)


def test_a_scam_description_gets_a_verdict_from_the_action_server(assistant, knowledge):
    replies = assistant.say("有人打电话自称是公安局的，说我涉嫌洗钱，让我把钱转到安全账户")
    said = _text(replies)
    assert knowledge.scam_types["impersonate_police"].name in said
    assert "安全账户" in said and "110" in said


@pytest.mark.parametrize(
    "message",
    ["", "   ", "喂" * 10_000, "😀😀😀🙏", "hi 我想问一下 is this a scam 吗？", "\x00\x01", "/restart{\"x\":1}"],
    ids=["empty", "whitespace", "10k-chars", "emoji", "mixed-language", "control-chars", "fake-command"],
)
def test_bad_input_gets_a_sensible_reply(assistant, message):
    replies = assistant.say(message)
    said = _text(replies)
    assert replies, "every message gets a reply"
    assert "Traceback" not in said and "Exception" not in said


def test_a_typed_verification_code_is_never_stored(assistant):
    sender = uuid.uuid4().hex
    assistant.say("他让我把验证码告诉他，验证码是 583920", sender=sender)
    tracker = requests.get(
        f"{assistant.url}/conversations/{sender}/tracker", params={"token": assistant.token}, timeout=10
    )
    assert tracker.status_code == 200
    assert "583920" not in tracker.text
    user_texts = [e["text"] for e in tracker.json()["events"] if e["event"] == "user"]
    assert user_texts == ["他让我把验证码告诉他，验证码是 〔验证码已隐去〕"]


def test_the_http_api_needs_the_token(assistant):
    response = requests.get(f"{assistant.url}/conversations/someone/tracker", timeout=10)
    assert response.status_code == 401


def test_ctrl_c_stops_everything_it_started(assistant):
    assistant.stop()
    deadline = time.monotonic() + 15
    while (_port_open(assistant.rasa_port) or _port_open(assistant.actions_port)) and time.monotonic() < deadline:
        time.sleep(0.3)
    assert not _port_open(assistant.rasa_port)
    assert not _port_open(assistant.actions_port)
