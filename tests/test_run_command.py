"""The run command end to end, with its defaults: scripts/run.sh starts the Rasa server, the
action server and (on two cores or more) the understanding server, they answer over REST, and
Ctrl-C stops everything it started."""
from __future__ import annotations

import os
import subprocess
import time
import uuid

import pytest
import requests

from tests.assistant import Assistant, port_open
from tests.conftest import ROOT


@pytest.fixture(scope="module")
def assistant(tmp_path_factory):
    running = Assistant(tmp_path_factory.mktemp("run"), nlu_process="auto")
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


def test_an_faq_question_gets_its_answer_from_the_knowledge(assistant):
    said = _text(assistant.say("96110是什么电话"))
    assert "反诈" in said and "劝阻" in said and "110" in said


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


def test_the_api_token_is_on_no_command_line(assistant):
    assert assistant.understanding_server_up()  # all three servers are running
    readable = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                    readable.append(cmdline.read())
            except OSError:  # gone meanwhile
                pass
    assert any(b"bot.cli.rasa_server" in c for c in readable)
    assert not [c for c in readable if assistant.token.encode() in c]


def test_ctrl_c_stops_everything_it_started(assistant):
    ports = (assistant.rasa_port, assistant.actions_port)
    assert assistant.understanding_server_up()  # the machine kind has two cores
    understanding_server, socket_path = assistant.understanding_server()
    assistant.stop()
    deadline = time.monotonic() + 15
    while any(port_open(port) for port in ports) and time.monotonic() < deadline:
        time.sleep(0.3)
    assert not any(port_open(port) for port in ports)
    assert not os.path.exists(f"/proc/{understanding_server}") and not socket_path.parent.exists()


def run_command_refuses(**settings: str) -> str:
    """The run command with these settings stops at once with exit code 2; its message."""
    done = subprocess.run(["bash", "scripts/run.sh"], cwd=ROOT, capture_output=True, text=True, timeout=60,
                          env={**os.environ, "FANZHA_API_TOKEN": "t", **settings})
    assert done.returncode == 2
    assert "Starting fanzha" not in done.stdout
    return done.stderr


def test_an_unknown_nlu_process_setting_is_refused_before_anything_starts():
    assert "FANZHA_NLU_PROCESS must be auto, on or off" in run_command_refuses(FANZHA_NLU_PROCESS="yes")
