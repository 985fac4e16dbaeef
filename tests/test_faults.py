"""Faults with the real assistant: the action server stops answering mid-conversation.

The shared assistant (tests/conftest.py): its action server is stopped for a moment only and
answers again before the module ends; the part of the log written meanwhile is this module's."""
from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid

import pytest

from bot.rasa_patches import action_guard
from tests.assistant import Assistant

SCAM = "有人说我涉嫌洗钱，让我把钱转到安全账户配合调查"


@pytest.fixture(scope="module")
def assistant(shared_assistant: Assistant) -> Assistant:
    return shared_assistant


@pytest.fixture(scope="module")
def log_before(assistant: Assistant) -> int:
    """Where the shared log stood before this module's fault: what follows is its own."""
    return assistant.log.stat().st_size


def listening_pid(port: int) -> int:
    pids = subprocess.run(["fuser", f"{port}/tcp"], capture_output=True, text=True).stdout.split()
    assert pids, f"nothing listens on port {port}"
    return int(pids[0])


def texts(reply: list[dict]) -> str:
    return "\n".join(message.get("text", "") for message in reply)


@pytest.mark.usefixtures("log_before")
def test_a_hung_action_server_still_gets_110_and_96110_in_time_then_the_check_works_again(assistant: Assistant) -> None:
    sender = uuid.uuid4().hex
    normal = texts(assistant.say(SCAM, sender))
    actions = listening_pid(assistant.actions_port)
    os.kill(actions, signal.SIGSTOP)  # accepts connections, answers nothing
    try:
        started = time.monotonic()
        reply = texts(assistant.say(SCAM, sender))
        seconds = time.monotonic() - started
    finally:
        os.kill(actions, signal.SIGCONT)
    assert seconds < 3
    assert "110" in reply and "96110" in reply
    assert reply != normal

    time.sleep(action_guard.RETRY_AFTER_S + 0.5)
    assert texts(assistant.say(SCAM, sender)) == normal  # the same conversation, checked normally again


def test_the_failure_is_logged_without_what_the_resident_wrote(assistant: Assistant, log_before: int) -> None:
    log = assistant.log.read_bytes()
    assert "Custom action 'action_check_scam' failed" in log[log_before:].decode("utf-8", errors="replace")
    assert "安全账户" not in log.decode("utf-8", errors="replace")  # nor from any other test's conversations
