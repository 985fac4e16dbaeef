"""The report key lives apart from the databases (var/keys/, not var/db/), and the key file of an
older version (keys/report.key, or data/report.key before issue #17) is moved there without ever
making a second key for reports that already exist."""
from __future__ import annotations

import logging
import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from bot.cli.main import main
from bot.services.report_queue import ENV_QUEUE
from bot.services.reports.crypto import ENV_REPORT_KEY, load_key
from bot.services.reports.errors import ReportKeyError
from bot.services.reports.store import ENV_DATABASE_URL, ReportStore
from bot.services.runtime_state import move_old_state

# Where docs/privacy.md says they are, relative to the project folder.
DEFAULT_KEY_FILE = Path("var/keys/report.key")
OLD_KEY_FILES = (Path("keys/report.key"), Path("data/report.key"))


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)
    for name in (ENV_DATABASE_URL, ENV_REPORT_KEY, ENV_QUEUE):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def old_installation(key_file: Path) -> str:
    """Reports written the way an older version kept them: data/fanzha.db, the key in ``key_file``."""
    with ReportStore("sqlite:///data/fanzha.db", key_file=key_file) as store:
        return store.save_report({"receiving_name": "王小明"}, channel="rest", sender="resident-1").reference


def test_a_new_key_is_made_outside_the_database_folder_owner_only(workdir):
    with ReportStore() as store:
        store.save_report({"amount": "5万"}, channel="rest")
    assert mode(Path("var/keys")) == 0o700 and mode(DEFAULT_KEY_FILE) == 0o600
    Fernet(DEFAULT_KEY_FILE.read_bytes().strip())  # a whole, valid key
    assert [p.name for p in Path("var/db").iterdir()] and not list(Path("var/db").rglob("*.key"))
    assert [p.name for p in Path("var/keys").iterdir()] == ["report.key"]  # no half-written file left


def test_different_keys_in_the_two_old_places_stop_the_start(workdir, capsys):
    for key_file in OLD_KEY_FILES:
        key_file.parent.mkdir(exist_ok=True)
        key_file.write_bytes(Fernet.generate_key())
    assert main(["report", "export", "--since", "2026-11-01"]) == 1
    assert "cannot move data/report.key to var/keys/report.key: keys/report.key holds another one" in capsys.readouterr().err
    assert all(key_file.exists() for key_file in OLD_KEY_FILES) and not Path("var").exists()


@pytest.mark.parametrize("old_key_file", OLD_KEY_FILES, ids=str)
def test_an_old_key_is_moved_and_still_opens_the_reports(workdir, old_key_file, caplog, capsys):
    reference = old_installation(old_key_file)
    old_key = old_key_file.read_bytes()
    with caplog.at_level(logging.WARNING, logger="bot.services.runtime_state"):
        assert main(["report", "show", reference]) == 0  # a command that never creates a key
    assert "王小明" in capsys.readouterr().out
    assert not old_key_file.exists()
    assert DEFAULT_KEY_FILE.read_bytes() == old_key
    assert mode(DEFAULT_KEY_FILE) == 0o600 and mode(Path("var/keys")) == 0o700
    assert f"moved {old_key_file} to var/keys/report.key" in caplog.text
    with ReportStore() as store:  # the server's way (it may create a key): still the same one
        assert store.get_report(reference).fields["receiving_name"] == "王小明"
    assert DEFAULT_KEY_FILE.read_bytes() == old_key


def test_a_different_key_at_the_new_place_stops_the_start_and_both_are_kept(workdir, capsys):
    reference = old_installation(Path("keys/report.key"))
    old_key = Path("keys/report.key").read_bytes()
    DEFAULT_KEY_FILE.parent.mkdir(parents=True, mode=0o700)
    DEFAULT_KEY_FILE.write_bytes(Fernet.generate_key())
    assert main(["report", "show", reference]) == 1
    assert "cannot move keys/report.key to var/keys/report.key" in capsys.readouterr().err
    assert Path("keys/report.key").read_bytes() == old_key  # not deleted: it is the only key for these reports
    assert Path("data/fanzha.db").exists() and not Path("var/db").exists()  # nothing moved: all or nothing
    with pytest.raises(ReportKeyError, match="does not open the reports"):  # nor is the wrong key used
        ReportStore("sqlite:///data/fanzha.db")


def test_processes_starting_together_all_get_the_one_old_key(workdir):
    """The run command and a `fanzha` command start at the same moment: each may find the old key
    still in keys/; every one must end up with it, none with a new or half-written one."""
    reference = old_installation(Path("keys/report.key"))
    old_key = Path("keys/report.key").read_bytes().strip()

    def start(_: int) -> bytes:
        move_old_state()
        return load_key(create=True)

    with ThreadPoolExecutor(16) as pool:
        keys = set(pool.map(start, range(64)))
    assert keys == {old_key}
    assert not Path("keys").exists() and [p.name for p in Path("var/keys").iterdir()] == ["report.key"]
    with ReportStore(create=False) as store:
        assert store.get_report(reference).sender == "resident-1"
