"""A bad setting stops the start with a message that names it, instead of a hang or a traceback."""
from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from bot.cli.preflight import PreflightError, check_credentials, check_model, check_tracker_store, problems
from tests.assistant import MODEL, free_port
from tests.conftest import ROOT


def endpoints(tmp_path: Path, tracker_store: str) -> Path:
    path = tmp_path / "endpoints.yml"
    path.write_text('action_endpoint:\n  url: "http://127.0.0.1:5055/webhook"\ntracker_store:\n' + tracker_store,
                    encoding="utf-8")
    return path


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_projects_own_settings_pass(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FANZHA_DATABASE_URL", f"sqlite:///{tmp_path / 'fanzha.db'}")
    monkeypatch.setenv("FANZHA_REPORT_KEY", Fernet.generate_key().decode())
    sqlite = endpoints(tmp_path, f"  type: bot.stores.tracker_store.WALSQLTrackerStore\n  dialect: sqlite\n  db: {tmp_path / 't.db'}\n")
    assert problems(MODEL, sqlite, ROOT / "credentials.yml") == []


def test_a_database_that_does_not_answer_is_named_without_its_password(tmp_path: Path) -> None:
    store = endpoints(tmp_path, f"  type: SQL\n  dialect: postgresql\n  url: 127.0.0.1\n  port: {closed_port()}\n"
                                "  db: rasa\n  username: rasa\n  password: s3cret-pw\n")
    with pytest.raises(PreflightError) as error:
        check_tracker_store(store)
    message = str(error.value)
    assert "does not answer" in message and "127.0.0.1" in message and str(store) in message
    assert "s3cret-pw" not in message


def test_a_misspelt_store_type_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(PreflightError, match="cannot be loaded"):
        check_tracker_store(endpoints(tmp_path, "  type: bot.stores.tracker_store.NoSuchStore\n"))


@pytest.mark.parametrize(
    "content, expected",
    [
        ("bot.channels.web.rest.RestChannel:\n  - [unclosed\n", "not valid YAML"),
        ("- rest\n- socketio\n", "must map channel names"),
        ("bot.channels.nothing_here.Channel:\n", "no module bot.channels.nothing_here"),
        ("rest: just-a-string\n", "mapping or empty"),
    ],
)
def test_a_broken_credentials_file_is_named(tmp_path: Path, content: str, expected: str) -> None:
    path = tmp_path / "credentials.yml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(PreflightError, match=expected):
        check_credentials(path)


def test_a_file_that_is_not_a_model_is_named(tmp_path: Path) -> None:
    fake = tmp_path / "fanzha.tar.gz"
    fake.write_text("not a model")
    with pytest.raises(PreflightError, match="not a trained model"):
        check_model(fake)
    with pytest.raises(PreflightError, match="no trained model"):
        check_model(tmp_path / "missing.tar.gz")


def test_a_wrong_report_key_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    database = f"sqlite:///{tmp_path / 'fanzha.db'}"
    monkeypatch.setenv("FANZHA_DATABASE_URL", database)
    monkeypatch.setenv("FANZHA_REPORT_KEY", Fernet.generate_key().decode())
    assert problems(MODEL, endpoints(tmp_path, "  type: in_memory\n"), ROOT / "credentials.yml") == []
    monkeypatch.setenv("FANZHA_REPORT_KEY", Fernet.generate_key().decode())  # not the database's key
    found = problems(MODEL, endpoints(tmp_path, "  type: in_memory\n"), ROOT / "credentials.yml")
    assert len(found) == 1 and "key" in found[0]


def test_the_run_command_stops_at_once_on_a_database_that_does_not_answer(tmp_path: Path) -> None:
    store = endpoints(tmp_path, f"  type: SQL\n  dialect: postgresql\n  url: 127.0.0.1\n  port: {closed_port()}\n"
                                "  db: rasa\n  username: rasa\n  password: pw\n")
    env = {**os.environ, "FANZHA_ENDPOINTS": str(store), "FANZHA_RASA_PORT": str(free_port()),
           "FANZHA_ACTIONS_PORT": str(free_port()), "FANZHA_API_TOKEN": "t",
           "FANZHA_DATABASE_URL": f"sqlite:///{tmp_path / 'fanzha.db'}",
           "FANZHA_REPORT_KEY": Fernet.generate_key().decode()}
    started = time.monotonic()
    run = subprocess.run(["bash", "scripts/run.sh"], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=120, start_new_session=True)
    assert run.returncode == 1
    assert "fanzha cannot start: the tracker store" in run.stderr
    assert time.monotonic() - started < 60  # Rasa alone would retry this database for ever
    assert "fanzha is ready" not in run.stdout
