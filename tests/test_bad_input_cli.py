"""Bad input on the command line: the catalogue of tests/bad_inputs.py as arguments, as
standard input and as JSON lines, for ``fanzha check``, ``report``, ``agent`` and ``demo``.

Every command answers with its usual output or one clear line on stderr and its exit code;
nothing ends in a traceback, and whatever is printed can be written as UTF-8.
"""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys

import pytest
from cryptography.fernet import Fernet

from bot.cli.main import main
from bot.services.reports.store import ReportStore
from tests.bad_inputs import INVALID_UTF8, MALFORMED_JSON, TEXTS, Text
from tests.conftest import ROOT

TEXT_IDS = [case.id for case in TEXTS]


@pytest.fixture
def cli(monkeypatch, capsys, checker):
    """Runs ``fanzha …`` in this process with ``stdin`` bytes; returns (code, out, err)."""
    monkeypatch.setattr("bot.cli.main._checker", lambda: checker)

    def run(*argv: str, stdin: bytes = b"") -> tuple[int, str, str]:
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin), encoding="utf-8"))
        # Python's own stderr escapes what UTF-8 cannot carry; stdout does not.
        stderr = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="backslashreplace")
        monkeypatch.setattr(sys, "stderr", stderr)
        code = main(list(argv))
        stderr.flush()
        out, err = capsys.readouterr()[0], stderr.buffer.getvalue().decode("utf-8")
        out.encode("utf-8")  # stdout is strict UTF-8: a lone surrogate would fail (stderr escapes it)
        assert "Traceback" not in out + err
        return code, out, err

    return run


@pytest.fixture
def database(tmp_path, monkeypatch):
    monkeypatch.setenv("FANZHA_DATABASE_URL", f"sqlite:///{tmp_path / 'fanzha.db'}")
    monkeypatch.setenv("FANZHA_REPORT_KEY", Fernet.generate_key().decode())
    ReportStore(create=True).close()


def wire(case: Text) -> bytes:
    """The text as bytes on a pipe: lone surrogates become the invalid UTF-8 they stand for."""
    return case.text.encode("utf-8", "surrogatepass")


@pytest.mark.parametrize("case", TEXTS, ids=TEXT_IDS)
def test_check_gives_a_verdict_for_every_text_as_argument_and_on_stdin(cli, case: Text):
    for argv, stdin in ((["check", case.text], b""), (["check"], wire(case))):
        code, out, err = cli(*argv, stdin=stdin)
        if case.text.strip():
            assert code == 0 and out.startswith("风险等级"), (argv, out, err)
        else:
            assert code == 2 and "give a text" in err


def test_check_jsonl_answers_each_line_and_reports_the_bad_ones(cli):
    good = [json.dumps({"id": case.id, "text": case.text}).encode() for case in TEXTS]
    bad = [INVALID_UTF8, b"[1, 2]", b'{"id": "no-text"}', b'{"id": "\\ud800", "text": 5}',
           *(body for name, body in MALFORMED_JSON.items() if name not in ("empty-body", "binary"))]
    code, out, _ = cli("check", "--jsonl", stdin=b"\n".join(good + bad) + b"\n")
    answers = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and len(answers) == len(good) + len(bad)
    assert [a["id"] for a in answers[:len(good)]] == TEXT_IDS
    assert all("risk" in a for a in answers[:len(good)])
    assert all(a.get("error") for a in answers[len(good):]), answers[len(good):]
    assert answers[len(good)]["error"] == "not valid UTF-8"


@pytest.mark.parametrize("case", TEXTS, ids=TEXT_IDS)
def test_report_commands_refuse_every_odd_reference_with_a_message(cli, database, case: Text):
    for command in ("show", "delete"):
        code, out, err = cli("report", command, case.text)
        assert code == 1 and err.startswith(f"fanzha report {command}:"), (out, err)


@pytest.mark.parametrize("case", TEXTS, ids=TEXT_IDS)
def test_agent_add_refuses_every_odd_name_and_stores_nothing(cli, database, case: Text):
    code, _, err = cli("agent", "add", case.text, "--password-stdin", stdin=b"a good long password\n")
    assert code == 1 and "agent name" in err
    assert cli("agent", "list")[1] == ""


def test_agent_passwords_that_are_not_text_or_too_short_are_refused(cli, database):
    for password in (INVALID_UTF8, b"", b"\x00" * 3, "短".encode()):
        code, _, err = cli("agent", "add", "duty.wang", "--password-stdin", stdin=password + b"\n")
        assert code == 1 and err.startswith("fanzha agent add:"), err
    assert cli("agent", "add", "duty.wang", "--password-stdin", stdin=b"a good long password\n")[0] == 0
    assert cli("agent", "list")[1] == "duty.wang\tactive\n"


@pytest.mark.parametrize("case", TEXTS, ids=TEXT_IDS)
def test_demo_refuses_every_odd_scenario_and_lists_the_real_ones(cli, case: Text):
    code, out, err = cli("demo", case.text)
    if not case.text:
        assert code == 0 and out  # no scenario: the list
    else:
        assert code == 2 and "no scenario" in err


def test_the_installed_command_takes_undecodable_bytes_on_argv_and_stdin():
    fanzha = [str(ROOT / ".venv" / "bin" / "fanzha"), "check"]
    env = {**os.environ, "LC_ALL": "C.UTF-8"}
    by_argv = subprocess.run([*fanzha, os.fsdecode(b"\xff\xfe \xe5\xae\x89\xe5\x85\xa8\xe8\xb4\xa6\xe6\x88\xb7")],
                             capture_output=True, env=env, timeout=120)
    by_stdin = subprocess.run(fanzha, input=INVALID_UTF8 + "转到安全账户".encode(), capture_output=True, env=env, timeout=120)
    for done in (by_argv, by_stdin):
        assert done.returncode == 0 and b"Traceback" not in done.stderr, done.stderr[-500:]
        assert done.stdout.decode("utf-8").startswith("风险等级")
