"""The reporting walkthrough through the real assistant over REST: triage first, the form,
the stored report, and both servers restarted in the middle."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid

import pytest
from cryptography.fernet import Fernet

from bot.services.reports.store import ReportStore
from tests.assistant import Assistant
from tests.conftest import ROOT

REFERENCE = re.compile(r"FZ-\d{8}-[A-Z0-9]{4}")


def _text(replies: list[dict]) -> str:
    return "\n".join(r.get("text", "") for r in replies)


@pytest.fixture(scope="module")
def reports_env(tmp_path_factory):
    """The report database and its key in the test's own folder, for both servers and the CLI."""
    folder = tmp_path_factory.mktemp("reports")
    env = {"FANZHA_DATABASE_URL": f"sqlite:///{folder / 'fanzha.db'}", "FANZHA_REPORT_KEY": Fernet.generate_key().decode()}
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        yield env


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory):
    return tmp_path_factory.mktemp("run")


def _show(reference: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "bot.cli.main", "report", "show", reference],
        cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True, timeout=120,
    )


def test_a_report_is_filled_stored_and_survives_a_restart(reports_env, run_folder, knowledge):
    first = Assistant(run_folder)
    try:
        finished, halfway = "victim-" + uuid.uuid4().hex, "halfway-" + uuid.uuid4().hex
        opening = _text(first.say("我被骗了，对方冒充客服让我转了两万", finished))
        assert "110" in opening.split("\n")[0] + opening  # 110 comes in the first reply
        assert opening.index("110") < opening.index("什么时候")  # before any question
        answers = ["昨天晚上七点", "两万", "支付宝", "跳过", "不知道", "跳过", "他用的电话是17012345678", "跳过", "跳过"]
        for answer in answers[:-1]:
            first.say(answer, finished)
        closing = _text(first.say(answers[-1], finished))
        reference = REFERENCE.search(closing).group(0)
        assert knowledge.procedures.recovery_warning in closing
        assert "支付宝" in closing

        # A second resident is in the middle of the form when the servers stop.
        first.say("钱被骗走了 五千", halfway)
        first.say("今天上午", halfway)
    finally:
        first.stop()

    second = Assistant(run_folder)
    try:
        # The half-filled form goes on where it was: the amount is the next question.
        next_question = _text(second.say("五千块", halfway))
        assert "怎么付" in next_question
    finally:
        second.stop()

    shown = _show(reference, reports_env)
    assert shown.returncode == 0, shown.stderr
    assert reference in shown.stdout
    assert "17012345678" in shown.stdout.replace(" ", "")


def test_the_report_cli_rejects_an_unknown_reference(reports_env):
    ReportStore(env=reports_env).close()  # the database, also when the walkthrough above did not run
    shown = _show("FZ-20000101-AAAA", reports_env)
    assert shown.returncode == 1
    assert "FZ-20000101-AAAA" in shown.stderr
