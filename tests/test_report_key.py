"""The report key lives apart from the data (keys/, not data/), and an older data/report.key is
moved there without ever making a second key for reports that already exist."""
from __future__ import annotations

import logging
import stat
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from bot.cli import main
from bot.report_queue import ENV_QUEUE, ReportQueue
from bot.storage import ENV_DATABASE_URL, ENV_REPORT_KEY, ReportKeyError, ReportStore

# Where docs/privacy.md says they are, relative to the project folder.
DEFAULT_KEY_FILE, LEGACY_KEY_FILE = Path("keys/report.key"), Path("data/report.key")


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)
    for name in (ENV_DATABASE_URL, ENV_REPORT_KEY, ENV_QUEUE):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def old_installation() -> str:
    """Reports written the way versions before issue #17 kept them: the key in data/."""
    with ReportStore(key_file=LEGACY_KEY_FILE) as store:
        return store.save_report({"receiving_name": "王小明"}, channel="rest", sender="resident-1").reference


def test_a_new_key_is_made_outside_the_data_folder_owner_only(workdir):
    with ReportStore() as store:
        store.save_report({"amount": "5万"}, channel="rest")
    assert mode(Path("keys")) == 0o700 and mode(DEFAULT_KEY_FILE) == 0o600
    Fernet(DEFAULT_KEY_FILE.read_bytes().strip())  # a whole, valid key
    assert [p.name for p in Path("data").iterdir()] and not list(Path("data").rglob("*.key"))
    assert [p.name for p in Path("keys").iterdir()] == ["report.key"]  # no half-written file left


def test_an_old_key_in_data_is_moved_and_still_opens_the_reports(workdir, caplog, capsys):
    reference = old_installation()
    old_key = LEGACY_KEY_FILE.read_bytes()
    with caplog.at_level(logging.WARNING, logger="bot.storage"):
        assert main(["report", "show", reference]) == 0  # a command that never creates a key
    assert "王小明" in capsys.readouterr().out
    assert not LEGACY_KEY_FILE.exists()
    assert DEFAULT_KEY_FILE.read_bytes().strip() == old_key.strip()
    assert mode(DEFAULT_KEY_FILE) == 0o600 and mode(Path("keys")) == 0o700
    assert "moved the report key from data/report.key to keys/report.key" in caplog.text
    with ReportStore() as store:  # the server's way (it may create a key): still the same one
        assert store.get_report(reference).fields["receiving_name"] == "王小明"
    assert DEFAULT_KEY_FILE.read_bytes().strip() == old_key.strip()


def test_the_report_queue_moves_the_old_key_too_rather_than_making_a_new_one(workdir):
    reference = old_installation()
    queued = ReportQueue().put({"amount": "3千"}, channel="rest", sender="resident-2")
    assert not LEGACY_KEY_FILE.exists()
    with ReportStore() as store:
        assert store.get_report(reference).sender == "resident-1"
        [stored] = ReportQueue().flush(store)
        assert store.get_report(stored).fields["amount"] == "3千"
    assert not queued.exists()


def test_a_different_key_already_in_keys_leaves_the_old_one_alone(workdir):
    reference = old_installation()
    Path("keys").mkdir(mode=0o700)
    DEFAULT_KEY_FILE.write_bytes(Fernet.generate_key())
    with pytest.raises(ReportKeyError, match="does not open the reports"):
        ReportStore()
    assert LEGACY_KEY_FILE.exists()  # not deleted: it is the only key for these reports
    DEFAULT_KEY_FILE.unlink()
    with ReportStore(create=False) as store:
        assert store.get_report(reference).sender == "resident-1"


def test_processes_starting_together_all_get_the_one_old_key(workdir):
    """The Rasa server and the action server start at the same moment: each may find the old
    key still in data/; every one must end up with it, none with a new or half-written one."""
    from concurrent.futures import ThreadPoolExecutor

    from bot.storage import load_key

    reference = old_installation()
    old_key = LEGACY_KEY_FILE.read_bytes().strip()
    with ThreadPoolExecutor(16) as pool:
        keys = set(pool.map(lambda _: load_key(create=True), range(64)))
    assert keys == {old_key}
    assert not LEGACY_KEY_FILE.exists() and [p.name for p in Path("keys").iterdir()] == ["report.key"]
    with ReportStore(create=False) as store:
        assert store.get_report(reference).sender == "resident-1"
