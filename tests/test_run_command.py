"""The run command end to end, with its defaults: scripts/run.sh starts the Rasa server, the
action server and (on two cores or more) the understanding server, they answer over REST, and
Ctrl-C stops everything it started.

The understanding server as the run command starts it (tests/test_nlu_offload.py tests the Rasa
server's side in process): asked only on a Unix socket in a folder that is this user's alone,
it understands as the Rasa server would, and it is started again when it dies. Issue 17's
attack runs during this module's one start of the run command (a start costs about 30 s): a
program takes the understanding server's old TCP port and must get no message."""
from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, Iterator

import pytest
import requests
from rasa.core.agent import Agent

from bot.rasa_patches import nlu_offload
from tests.assistant import Assistant, free_port, port_open
from tests.conftest import ROOT
from tests.http_stub import StubServer
from tests.test_faults import listening_pid, texts
from tests.test_nlu_offload import SCAMMED, parse
from tests.test_rasa_patches import holdout_texts


class Squatter(threading.Thread):
    """Issue 17's attack: a local program that takes the understanding server's old port while
    the assistant loads, collects what is sent to it and answers every text with goodbye."""

    def __init__(self, port: int, run_log: Path) -> None:
        super().__init__(daemon=True)
        self.port, self.run_log = port, run_log
        self.requests: list[str] = []
        self.listening = threading.Event()
        self.server: StubServer | None = None

    def run(self) -> None:
        deadline = time.monotonic() + 120
        while not (self.run_log.exists() and "Starting fanzha" in self.run_log.read_text(errors="replace")):
            if time.monotonic() > deadline:
                return
            time.sleep(0.05)
        requests = self.requests

        class Answer(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                requests.append(self.path + " " + body.decode(errors="replace"))
                text = json.loads(body or b"{}").get("text", "")
                intent = {"name": "goodbye", "confidence": 1.0}
                self.reply({"text": text, "intent": intent, "entities": [], "intent_ranking": [intent]})

            def do_GET(self) -> None:  # noqa: N802
                requests.append(self.path)
                self.reply({"version": "3.6.21"})

            def reply(self, answer: dict[str, Any]) -> None:
                payload = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = StubServer(Answer, self.port)
        self.listening.set()


@pytest.fixture(scope="module")
def squatted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Assistant, Squatter]]:
    """The run command on its defaults, with issue 17's squatter on the old port during the start
    (a setting the run command no longer reads)."""
    folder = tmp_path_factory.mktemp("run")
    squatter = Squatter(free_port(), folder / "run.log")
    squatter.start()
    with pytest.MonkeyPatch.context() as environment:
        environment.setenv("FANZHA_NLU_PORT", str(squatter.port))  # the port setting of the run command before
        running = Assistant(folder, nlu_process="auto")
    yield running, squatter
    running.stop()
    if squatter.server is not None:
        squatter.server.down()


@pytest.fixture(scope="module")
def assistant(squatted: tuple[Assistant, Squatter]) -> Assistant:
    return squatted[0]


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


# --- the understanding server as the run command starts it ----------------------------------


def test_a_program_on_the_old_port_gets_no_message_and_is_not_obeyed(squatted: tuple[Assistant, Squatter]) -> None:
    assistant, squatter = squatted
    assert squatter.listening.is_set()  # it took the port during the start, as the attacker did
    said = texts(assistant.say(SCAMMED))
    assert "110" in said
    assert squatter.requests == []


def test_the_socket_folder_is_this_users_alone(assistant: Assistant) -> None:
    _, socket_path = assistant.understanding_server()  # type: ignore[misc]  # it has one
    folder = os.lstat(socket_path.parent)
    assert stat.S_ISDIR(folder.st_mode) and stat.S_IMODE(folder.st_mode) == 0o700 and folder.st_uid == os.geteuid()
    assert stat.S_ISSOCK(os.lstat(socket_path).st_mode)
    rasa_server = Path(f"/proc/{listening_pid(assistant.rasa_port)}/environ").read_bytes().split(b"\0")
    assert f"FANZHA_NLU_URL=unix:{socket_path}".encode() in rasa_server


def summary(found: dict[str, Any]) -> tuple[Any, ...]:
    """What the dialogue uses of an understanding: the FAQ answer only for FAQ questions (the
    servers choose no other, bot/rasa_patches/faq_selector.py); confidences to 3 places, since the test process
    runs TensorFlow with its default settings and the servers without oneDNN."""
    faq = found.get("response_selector", {}).get("faq", {}).get("response", {})
    intent = found["intent"]["name"]
    return (intent, round(found["intent"]["confidence"], 3),
            [(e["entity"], e["value"], e["start"], e["end"]) for e in found["entities"]],
            faq.get("intent_response_key") if intent == "faq" else None)


async def test_the_second_server_understands_as_the_rasa_server_would(assistant: Assistant,
                                                                      plain_serving_agent: Agent) -> None:
    _, socket_path = assistant.understanding_server()  # type: ignore[misc]  # it has one
    remote = nlu_offload.RemoteUnderstanding(nlu_offload.socket_path(f"unix:{socket_path}"))
    said = holdout_texts(every=4)
    try:
        there = [await remote.parse(text) for text in said]
    finally:
        await remote.close()
    assert all(found is not None for found in there)
    assert [summary(found) for found in there] == [summary(await parse(plain_serving_agent, text)) for text in said]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_the_rasa_server_asks_the_second_server(assistant: Assistant) -> None:
    nlu, _ = assistant.understanding_server()  # type: ignore[misc]  # it has one
    idle = cpu_seconds(nlu)
    time.sleep(2)
    idle = cpu_seconds(nlu) - idle
    busy = cpu_seconds(nlu)
    for _ in range(10):
        assert "96110" in texts(assistant.say("96110是什么电话"))
    assert cpu_seconds(nlu) - busy > idle + 0.03  # ten messages understood there
    assert "96110是什么电话" not in assistant.log.read_text(errors="replace")  # neither server logs what residents write


def test_the_conversation_goes_on_when_the_second_server_stops_and_it_is_started_again(assistant: Assistant) -> None:
    sender = uuid.uuid4().hex
    assert "110" in texts(assistant.say("我被骗了，网上刷单让我垫付了好几次钱", sender))
    killed, _ = assistant.understanding_server()  # type: ignore[misc]  # it has one
    os.kill(killed, signal.SIGKILL)
    time.sleep(0.5)
    assert not assistant.understanding_server_up()
    assert texts(assistant.say("前天晚上八点多", sender))  # the report form's next question
    assert "96110" in texts(assistant.say("96110是什么电话"))
    assert assistant.process.poll() is None  # the run command keeps serving
    deadline = time.monotonic() + 240  # the run command starts it again; it loads the model anew
    while not assistant.understanding_server_up():
        assert time.monotonic() < deadline, assistant.log.read_text()[-3000:]
        time.sleep(1)
    restarted, _ = assistant.understanding_server()  # type: ignore[misc]  # it has one
    assert restarted != killed
    assert "The understanding server stopped (exit status 137); starting it again in 2 s." in assistant.log.read_text()
    time.sleep(nlu_offload.RETRY_AFTER_S)  # the Rasa server's rest after the outage
    busy = cpu_seconds(restarted)
    for _ in range(10):
        assert "96110" in texts(assistant.say("96110是什么电话"))
    assert cpu_seconds(restarted) - busy > 0.03  # asked again


def test_ctrl_c_stops_everything_it_started_and_removes_the_socket_folder(assistant: Assistant) -> None:
    ports = (assistant.rasa_port, assistant.actions_port)
    assert assistant.understanding_server_up()  # the machine kind has two cores
    understanding_server, socket_path = assistant.understanding_server()  # type: ignore[misc]  # it has one
    assistant.stop()
    assert not socket_path.parent.exists()
    assert not Path(f"/proc/{understanding_server}").exists()  # stopped, and waited for, before the run command ended
    assert assistant.understanding_server() is None
    deadline = time.monotonic() + 15
    while any(port_open(port) for port in ports) and time.monotonic() < deadline:
        time.sleep(0.3)
    assert not any(port_open(port) for port in ports)


def run_command_refuses(**settings: str) -> str:
    """The run command with these settings stops at once with exit code 2; its message."""
    done = subprocess.run(["bash", "scripts/run.sh"], cwd=ROOT, capture_output=True, text=True, timeout=60,
                          env={**os.environ, "FANZHA_API_TOKEN": "t", **settings})
    assert done.returncode == 2
    assert "Starting fanzha" not in done.stdout
    return done.stderr


def test_an_unknown_nlu_process_setting_is_refused_before_anything_starts():
    assert "FANZHA_NLU_PROCESS must be auto, on or off" in run_command_refuses(FANZHA_NLU_PROCESS="yes")
