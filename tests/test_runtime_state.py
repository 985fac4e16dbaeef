"""Runtime state lives in var/ (databases in var/db/, keys and tokens in var/keys/, owner-only);
what a version before issue #18 kept in data/ and keys/ is moved there on the first start, never
over a file already at the new place."""
from __future__ import annotations

import os
import shutil
import sqlite3
import stat
import subprocess
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from bot.cli.main import main
from bot.services import runtime_state
from bot.services.console_auth import ENV_SECRET, load_secret
from bot.services.report_queue import ENV_QUEUE, ReportQueue
from bot.services.reports.crypto import ENV_REPORT_KEY
from bot.services.reports.store import ENV_DATABASE_URL, ReportStore
from tests.conftest import ROOT

ENDPOINTS = 'tracker_store:\n  type: SQL\n  dialect: "sqlite"\n  db: "{}"\n'
SECRETS = {"data/console.key": "c" * 64, "data/api_token": "api-token-of-the-old-version",
           "data/action_token": "action-token-of-the-old-version"}


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)
    for name in (ENV_DATABASE_URL, ENV_REPORT_KEY, ENV_QUEUE, ENV_SECRET, "FANZHA_ENDPOINTS"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "endpoints.yml").write_text(ENDPOINTS.format("var/db/tracker.db"), encoding="utf-8")
    return tmp_path


def mode(path: str | Path) -> int:
    return stat.S_IMODE(Path(path).stat().st_mode)


def files_under(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()} if folder.exists() else set()


def old_installation() -> str:
    """Everything a version before issue #18 kept, where it kept it; the reference of one report."""
    old_key = Path("keys/report.key")
    with ReportStore("sqlite:///data/fanzha.db", key_file=old_key) as store:
        reference = store.save_report({"receiving_name": "王小明"}, channel="rest", sender="resident-1").reference
    ReportQueue(Path("data/report_queue"), key_file=old_key).put({"amount": "3千"}, channel="rest", sender="resident-2")
    with sqlite3.connect("data/tracker.db") as conn:
        conn.execute("CREATE TABLE events (sender_id TEXT)")
        conn.execute("INSERT INTO events VALUES ('resident-1')")
    for name, secret in SECRETS.items():
        Path(name).write_text(secret + "\n")
        Path(name).chmod(0o600)
    return reference


def test_every_old_file_moves_to_var_and_still_works(workdir, capsys):
    reference = old_installation()
    old_bytes = {name: Path(name).read_bytes() for name in (*SECRETS, "keys/report.key", "data/tracker.db")}
    assert main(["report", "show", reference]) == 0
    assert "王小明" in capsys.readouterr().out
    assert not (workdir / "data").exists() and not (workdir / "keys").exists()  # emptied, then removed
    assert files_under(workdir / "var") >= {"db/fanzha.db", "db/tracker.db", "keys/report.key", "keys/console.key",
                                             "keys/api_token", "keys/action_token"}
    for name, content in old_bytes.items():
        new = {"keys/report.key": "var/keys/report.key", "data/tracker.db": "var/db/tracker.db"}.get(
            name, name.replace("data/", "var/keys/"))
        assert Path(new).read_bytes() == content, new
        assert mode(new) == 0o600, new
    assert mode("var/db") == mode("var/keys") == 0o700
    assert load_secret() == SECRETS["data/console.key"].encode()  # agents stay logged in
    with ReportStore(create=False) as store:  # the defaults find the moved database and key
        assert store.get_report(reference).sender == "resident-1"
        [queued] = ReportQueue().flush(store)  # the waiting report was moved too, and still opens
        assert store.get_report(queued).fields["amount"] == "3千"
    assert main(["report", "show", reference]) == 0  # a second start has nothing left to move


def test_a_database_moves_with_its_write_ahead_log(workdir):
    """A server that stopped without a checkpoint leaves its newest rows only in fanzha.db-wal."""
    Path("data").mkdir()
    writer = sqlite3.connect("scratch.db")
    writer.execute("PRAGMA journal_mode=WAL")
    writer.execute("PRAGMA wal_autocheckpoint=0")
    writer.execute("CREATE TABLE t (x TEXT)")
    writer.execute("INSERT INTO t VALUES ('only in the log')")
    writer.commit()
    for end in ("", "-wal"):
        shutil.copy(f"scratch.db{end}", f"data/fanzha.db{end}")  # as the crash left them
    writer.close()
    assert {p.name for p in Path("data").iterdir()} == {"fanzha.db", "fanzha.db-wal"}
    runtime_state.move_old_state()
    assert not Path("data/fanzha.db-wal").exists() and Path("var/db/fanzha.db-wal").exists()
    with sqlite3.connect("var/db/fanzha.db") as conn:
        assert conn.execute("SELECT x FROM t").fetchall() == [("only in the log",)]


@pytest.mark.parametrize("old, new", [(old, new) for old, new in runtime_state.OLD_PLACES if old.suffix != ".db"]
                         + [(Path("data/fanzha.db"), Path("var/db/fanzha.db"))], ids=str)
def test_a_file_already_at_the_new_place_is_never_overwritten(workdir, old, new, capsys):
    for path, content in ((old, "the old version's"), (new, "already at the new place")):
        target = path / "one.report" if path.name == "report_queue" else path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content)
    assert main(["report", "show", "FZ-20261122-7K3Q"]) == 1
    err = capsys.readouterr().err
    assert f"cannot move {old} to {new}: {new} holds another one" in err and "Nothing was overwritten" in err
    assert runtime_state.main() == 1  # the run command's step stops the start the same way
    kept = (lambda p: (p / "one.report").read_text()) if old.name == "report_queue" else (lambda p: p.read_text())
    assert kept(old) == "the old version's" and kept(new) == "already at the new place"


def test_a_database_whose_log_is_in_the_way_is_not_moved_in_part(workdir):
    Path("data").mkdir()
    Path("data/fanzha.db").write_bytes(b"database")
    Path("data/fanzha.db-wal").write_bytes(b"its log")
    runtime_state.private_folder(Path("var/db"))
    Path("var/db/fanzha.db-wal").write_bytes(b"another log")
    with pytest.raises(runtime_state.RuntimeStateError, match="data/fanzha.db-wal to var/db/fanzha.db-wal: .* holds another"):
        runtime_state.move_old_state()
    assert Path("data/fanzha.db").read_bytes() == b"database" and not Path("var/db/fanzha.db").exists()


def test_the_same_key_in_both_old_places_is_kept_once(workdir):
    key = Fernet.generate_key() + b"\n"
    for name in ("keys/report.key", "data/report.key"):
        Path(name).parent.mkdir(exist_ok=True)
        Path(name).write_bytes(key)
    runtime_state.move_old_state()
    assert Path("var/keys/report.key").read_bytes() == key
    assert not Path("data/report.key").exists() and not Path("keys/report.key").exists()


def test_a_tracker_store_the_endpoints_still_name_stays_where_it_is(workdir):
    """A hand-made endpoints file naming data/tracker.db: Rasa reads the conversations there."""
    Path("endpoints.yml").write_text(ENDPOINTS.format("data/tracker.db"), encoding="utf-8")
    Path("data").mkdir()
    Path("data/tracker.db").write_bytes(b"conversations")
    Path("data/console.key").write_text("c" * 64)
    runtime_state.move_old_state()
    assert Path("data/tracker.db").read_bytes() == b"conversations" and not Path("var/db/tracker.db").exists()
    assert Path("var/keys/console.key").exists()  # the rest moves all the same


def test_a_fresh_start_makes_var_only_and_keeps_it_owner_only(workdir):
    assert runtime_state.main() == 0
    with ReportStore() as store:
        store.save_report({"amount": "5万"}, channel="rest")
    queued = ReportQueue().put({"amount": "1千"}, channel="rest")
    load_secret()
    assert sorted(p.name for p in workdir.iterdir()) == ["endpoints.yml", "var"]
    assert {p.name for p in (workdir / "var").iterdir()} == {"db", "keys"}
    assert mode("var") == mode("var/db") == mode("var/keys") == mode("var/db/report_queue") == 0o700
    assert files_under(workdir / "var/keys") == {"report.key", "console.key"}  # no key beside the databases
    for path in (Path("var/db/fanzha.db"), Path("var/keys/report.key"), Path("var/keys/console.key"), queued):
        assert mode(path) == 0o600, path
    assert not list((workdir / "var/db").rglob("*.key"))


def test_the_run_command_keeps_its_tokens_in_var_keys(tmp_path):
    """scripts/run.sh in a fresh folder, stopped (bad origins setting) right after it made its tokens."""
    (tmp_path / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "run.sh", tmp_path / "scripts" / "run.sh")
    (tmp_path / ".venv").symlink_to(ROOT / ".venv")
    env = {k: v for k, v in os.environ.items() if k not in ("FANZHA_API_TOKEN", "FANZHA_ACTION_TOKEN")}
    env.update(FANZHA_MODEL=str(ROOT / "models" / "fanzha.tar.gz"), FANZHA_WIDGET_ORIGINS="not an origin")
    done = subprocess.run(["bash", "scripts/run.sh"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == [".venv", "scripts", "var"]
    assert files_under(tmp_path / "var") == {"keys/api_token", "keys/action_token"}
    assert mode(tmp_path / "var/db") == mode(tmp_path / "var/keys") == 0o700
    assert mode(tmp_path / "var/keys/api_token") == mode(tmp_path / "var/keys/action_token") == 0o600
