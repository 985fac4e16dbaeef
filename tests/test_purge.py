"""``fanzha purge``: real SQLite files for Rasa's tracker store and the report database."""
from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from bot.cli.main import main
from bot.services.early_warnings.store import NewWarning, WarningStore
from bot.services.handoff import TicketStore
from bot.services.reports.crypto import ENV_REPORT_KEY
from bot.services.reports.store import ENV_DATABASE_URL, ReportStore
from tests.conftest import ROOT

DAY = 24 * 3600
NOW = datetime.now(timezone.utc)


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch) -> Path:
    """A project-like folder: endpoints.yml with a SQLite tracker store, reports in var/db/."""
    monkeypatch.chdir(tmp_path)
    for name in (ENV_DATABASE_URL, ENV_REPORT_KEY, "FANZHA_ENDPOINTS", "FANZHA_RETENTION_DAYS"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "var" / "db").mkdir(parents=True)
    (tmp_path / "endpoints.yml").write_text(
        'tracker_store:\n  type: SQL\n  dialect: "sqlite"\n  db: "var/db/tracker.db"\n', encoding="utf-8"
    )
    return tmp_path


def conversation(sender: str, *ages_in_days: float) -> DialogueStateTracker:
    """A conversation whose messages were sent the given number of days ago."""
    tracker = DialogueStateTracker(sender, slots=[])
    for age in ages_in_days:
        at = time.time() - age * DAY
        tracker.update(UserUttered("我的电话13812345678", timestamp=at))
        tracker.update(ActionExecuted("action_listen", timestamp=at + 1))
    return tracker


def store_conversations(*trackers: DialogueStateTracker) -> None:
    store = SQLTrackerStore(Domain.empty(), dialect="sqlite", db="var/db/tracker.db")
    for tracker in trackers:
        asyncio.run(store.save(tracker))
    store.engine.dispose()


def senders_left() -> set[str]:
    with sqlite3.connect("var/db/tracker.db") as conn:
        return {row[0] for row in conn.execute("SELECT DISTINCT sender_id FROM events")}


def seed_reports() -> None:
    """An old and a recent report, call-back request and ticket (closed long ago / open now)."""
    for age, tag in ((400, "old"), (3, "new")):
        at = NOW - timedelta(days=age)
        store = ReportStore(clock=lambda at=at: at)  # type: ignore[misc]  # binds this loop's time
        try:
            store.save_report({"story": f"{tag} report"}, channel="rest", sender=f"{tag}-sender")
            store.request_callback(sender=f"{tag}-sender", channel="voice", reason="no-answer", phone="13812345678")
            TicketStore(store).open_ticket(sender=f"{tag}-sender", channel="socketio", reason="asked")
        finally:
            store.close()


def left_in_reports() -> dict[str, int]:
    with sqlite3.connect("var/db/fanzha.db") as conn:
        return {
            table: conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
            for table in ("reports", "callback_requests", "handoff_tickets")
        }


def test_old_conversations_and_reports_go_recent_ones_stay(workdir, capsys):
    store_conversations(
        conversation("old", 300, 200),
        conversation("still-going", 300, 2),  # began long ago, newest message recent: kept whole
        conversation("recent", 1),
    )
    seed_reports()
    assert main(["purge", "--older-than", "180"]) == 0
    out = capsys.readouterr().out
    assert "conversations: erased 1 (4 events)" in out
    assert "reports: erased 1; call-back requests: 1; handoff tickets: 1" in out
    assert senders_left() == {"still-going", "recent"}
    with sqlite3.connect("var/db/tracker.db") as conn:
        assert conn.execute("SELECT COUNT(*) FROM events WHERE sender_id = 'still-going'").fetchone()[0] == 4
    assert left_in_reports() == {"reports": 1, "callback_requests": 1, "handoff_tickets": 1}
    with ReportStore(create=False) as store:
        assert store.reports_for_sender("new-sender") and not store.reports_for_sender("old-sender")
        assert store.callbacks_for_sender("new-sender") and not store.callbacks_for_sender("old-sender")


def test_closed_warnings_past_retention_go_with_their_trail_open_ones_stay(workdir, capsys):
    store_conversations(conversation("recent", 1))
    ids = {}
    for tag, age, close in (("old-closed", 400, True), ("old-open", 400, False), ("new-closed", 3, True)):
        at = NOW - timedelta(days=age)
        store = ReportStore(clock=lambda at=at: at)
        try:
            warnings = WarningStore(store)
            phone = {"old-closed": "+8613800000001", "old-open": "+8613800000002", "new-closed": "+8613800000003"}[tag]
            warning, _ = warnings.add(NewWarning(phone, "orange", None, tag, "test", at), actor="cli")
            if close:
                warnings.set_outcome(warning.id, "dissuaded", actor="cli")
            ids[tag] = warning.id
        finally:
            store.close()
    assert main(["purge", "--older-than", "180", "--dry-run"]) == 0
    assert "early warnings: would erase 1 closed (2 audit events)" in capsys.readouterr().out
    assert main(["purge", "--older-than", "180"]) == 0
    assert "early warnings: erased 1 closed (2 audit events)" in capsys.readouterr().out
    with sqlite3.connect("var/db/fanzha.db") as conn:
        left = {row[0] for row in conn.execute("SELECT id FROM warnings")}
        trail = {row[0] for row in conn.execute("SELECT DISTINCT warning_id FROM warning_events")}
    assert left == trail == {ids["old-open"], ids["new-closed"]}


def test_purged_text_does_not_stay_in_the_write_ahead_log_while_the_server_runs(workdir):
    store_conversations(conversation("recent", 1))
    server = sqlite3.connect("var/db/tracker.db")  # the running server keeps its connection open
    server.execute("PRAGMA journal_mode = WAL")  # as fanzha's tracker store runs it
    server.execute("SELECT COUNT(*) FROM events").fetchone()  # it has the log open from now on
    old = conversation("old", 300)
    old.update(UserUttered("骗子的收款账户户名 WANG-MOUMOU 卡尾号 4417", timestamp=time.time() - 300 * DAY))
    store_conversations(old)
    assert b"WANG-MOUMOU" in Path("var/db/tracker.db-wal").read_bytes()  # Rasa's rows, in the log
    try:
        assert main(["purge", "--older-than", "180"]) == 0
        for name in ("var/db/tracker.db", "var/db/tracker.db-wal"):
            assert b"WANG-MOUMOU" not in Path(name).read_bytes(), name
        assert senders_left() == {"recent"}
    finally:
        server.close()


def test_an_erased_report_leaves_the_write_ahead_log_empty(workdir):
    seed_reports()
    server = sqlite3.connect("var/db/fanzha.db")  # the running server keeps its connection open
    server.execute("SELECT COUNT(*) FROM reports").fetchone()
    try:
        with ReportStore(create=False) as store:
            [report] = store.reports_for_sender("old-sender")
            store.save_report({"story": "another"}, channel="rest", sender="someone")  # written to the log
            assert Path("var/db/fanzha.db-wal").stat().st_size > 0
            store.delete_report(report.reference)
            assert Path("var/db/fanzha.db-wal").stat().st_size == 0
    finally:
        server.close()


def test_dry_run_counts_and_changes_nothing(workdir, capsys):
    store_conversations(conversation("old", 200), conversation("recent", 1))
    seed_reports()
    before = (Path("var/db/tracker.db").read_bytes(), left_in_reports())
    assert main(["purge", "--older-than", "180", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "conversations: would erase 1 (2 events)" in out
    assert "reports: would erase 1; call-back requests: 1; handoff tickets: 1" in out
    assert senders_left() == {"old", "recent"}
    assert left_in_reports() == before[1] == {"reports": 2, "callback_requests": 2, "handoff_tickets": 2}


def test_the_default_age_comes_from_the_environment(workdir, monkeypatch, capsys):
    store_conversations(conversation("forty-days", 40), conversation("ten-days", 10))
    assert main(["purge"]) == 0  # default 180 days: both kept
    assert senders_left() == {"forty-days", "ten-days"}
    monkeypatch.setenv("FANZHA_RETENTION_DAYS", "30")
    assert main(["purge"]) == 0
    assert "(30 days)" in capsys.readouterr().out
    assert senders_left() == {"ten-days"}


def test_the_tracker_store_is_read_from_fanzha_endpoints(workdir, monkeypatch, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "endpoints.yml").write_text(
        'tracker_store:\n  type: SQL\n  dialect: "sqlite"\n  db: ${TRACKER_DB}\n', encoding="utf-8"
    )
    store_conversations(conversation("old", 200))
    Path("var/db/tracker.db").rename(elsewhere / "tracker.db")
    monkeypatch.setenv("FANZHA_ENDPOINTS", str(elsewhere / "endpoints.yml"))
    monkeypatch.setenv("TRACKER_DB", str(elsewhere / "tracker.db"))
    assert main(["purge", "--older-than", "100"]) == 0
    with sqlite3.connect(elsewhere / "tracker.db") as conn:
        assert conn.execute("SELECT COUNT(*) FROM events").fetchone()[0] == 0


@pytest.mark.parametrize("argument", ["abc", "0", "-5", "1.5"])
def test_a_bad_age_is_a_clear_error_with_exit_code_2(workdir, capsys, argument):
    store_conversations(conversation("old", 200))
    with pytest.raises(SystemExit) as exited:
        main(["purge", f"--older-than={argument}"])
    assert exited.value.code == 2
    assert "--older-than" in capsys.readouterr().err
    assert senders_left() == {"old"}


def test_a_bad_default_from_the_environment_is_exit_code_2(workdir, monkeypatch, capsys):
    store_conversations(conversation("old", 200))
    monkeypatch.setenv("FANZHA_RETENTION_DAYS", "half a year")
    assert main(["purge"]) == 2
    assert "FANZHA_RETENTION_DAYS" in capsys.readouterr().err
    assert senders_left() == {"old"}


def test_the_installed_command_exits_2_on_a_bad_argument(workdir):
    done = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "fanzha"), "purge", "--older-than", "soon"],
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 2
    assert "'soon' is not a whole number of days" in done.stderr


def test_a_missing_tracker_database_or_a_redis_store_is_exit_code_1(workdir, capsys):
    assert main(["purge"]) == 1  # wrong folder: no tracker database, none created
    assert "no tracker database at var/db/tracker.db" in capsys.readouterr().err
    assert not Path("var/db/tracker.db").exists() and not Path("var/db/fanzha.db").exists()
    Path("endpoints.yml").write_text("tracker_store:\n  type: redis\n  url: localhost\n", encoding="utf-8")
    assert main(["purge"]) == 1
    assert "record_exp" in capsys.readouterr().err


def test_no_report_database_yet_is_not_an_error(workdir, capsys):
    store_conversations(conversation("recent", 1))
    assert main(["purge"]) == 0
    assert "no report database" in capsys.readouterr().out
    assert not Path("var/db/fanzha.db").exists()


class TunedSQLTrackerStore(SQLTrackerStore):
    """A project's own SQL tracker store class, named by its dotted path in endpoints.yml."""


def test_a_subclass_of_rasas_sql_tracker_store_is_purged_too(workdir):
    Path("endpoints.yml").write_text(
        'tracker_store:\n  type: tests.test_purge.TunedSQLTrackerStore\n  dialect: "sqlite"\n  db: "var/db/tracker.db"\n',
        encoding="utf-8",
    )
    store_conversations(conversation("old", 200), conversation("recent", 1))
    assert main(["purge"]) == 0
    assert senders_left() == {"recent"}
