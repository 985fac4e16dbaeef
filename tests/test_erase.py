"""``fanzha erase``: one resident's conversation out of every store, on real SQLite files (and a
throwaway Redis), with the stores held open as the running servers hold them."""
from __future__ import annotations

import asyncio
import sqlite3
import subprocess
from pathlib import Path
from typing import Iterator

import pytest
from cryptography.fernet import Fernet
from rasa.core.tracker_store import RedisTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from bot.cli.main import main
from bot.services.handoff import TicketStore
from bot.services.report_queue import ENV_QUEUE, ReportQueue
from bot.services.reports.crypto import ENV_REPORT_KEY, load_key
from bot.services.reports.store import ENV_DATABASE_URL, ReportStore
from bot.stores.tracker_store import WALSQLTrackerStore
from tests.conftest import ROOT
from tests.shared_stores import Redis

RESIDENT, NEIGHBOUR = "resident-7f3a", "neighbour-91c2"
# A distinctive name in what each told the assistant, so its bytes can be looked for in every file
# (Rasa stores the events as ASCII JSON: the Chinese around it is escaped).
MARK = {RESIDENT: "WANG-MOUMOU", NEIGHBOUR: "LI-SISI"}
SAID = {sender: f"收款户名 {name} 尾号 4417" for sender, name in MARK.items()}
ENDPOINTS = 'tracker_store:\n  type: bot.stores.tracker_store.WALSQLTrackerStore\n  dialect: "sqlite"\n  db: "var/db/tracker.db"\n'


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch) -> Path:
    """A project-like folder: endpoints.yml with fanzha's SQLite tracker store, reports in var/db/."""
    monkeypatch.chdir(tmp_path)
    for name in (ENV_DATABASE_URL, ENV_REPORT_KEY, ENV_QUEUE, "FANZHA_ENDPOINTS"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "var" / "db").mkdir(parents=True)
    (tmp_path / "endpoints.yml").write_text(ENDPOINTS, encoding="utf-8")
    return tmp_path


def conversation(sender: str) -> DialogueStateTracker:
    tracker = DialogueStateTracker(sender, slots=[])
    tracker.update(UserUttered("我被骗了"))
    tracker.update(ActionExecuted("action_listen"))
    tracker.update(UserUttered(SAID[sender]))
    tracker.update(ActionExecuted("action_listen"))
    return tracker


@pytest.fixture
def servers(workdir: Path) -> Iterator[tuple[WALSQLTrackerStore, ReportStore]]:
    """Both residents' conversations, reports, call-backs, tickets and a report waiting on disk,
    written through stores that stay open like the running servers' (so the logs stay full)."""
    tracker_store = WALSQLTrackerStore(Domain.empty(), dialect="sqlite", db="var/db/tracker.db")
    store = ReportStore()
    for sender in (RESIDENT, NEIGHBOUR):
        asyncio.run(tracker_store.save(conversation(sender)))
        answers = {"receiving_name": SAID[sender], "amount": "5万"}
        store.save_report(answers, channel="socketio", sender=sender, status="abandoned")
        store.save_report(answers, channel="socketio", sender=sender)
        store.request_callback(sender=sender, channel="socketio", reason=f"handoff: {SAID[sender]}", phone="13812345678")
        TicketStore(store).open_ticket(sender=sender, channel="socketio", reason="request", report=answers,
                                       turns=[{"from": "resident", "text": SAID[sender]}])
        ReportQueue().put(answers, channel="socketio", sender=sender)
    try:
        yield tracker_store, store
    finally:
        tracker_store.engine.dispose()
        store.close()


def senders_in_tracker() -> set[str]:
    with sqlite3.connect("var/db/tracker.db") as conn:
        return {row[0] for row in conn.execute("SELECT DISTINCT sender_id FROM events")}


def ciphertexts(store: ReportStore, sender: str) -> list[bytes]:
    """The stored (encrypted) text of the sender's rows: what must not stay in any file."""
    lookup = store.cipher.lookup_hash(sender)
    with sqlite3.connect("var/db/fanzha.db") as conn:
        rows = conn.execute(
            "SELECT fields FROM reports WHERE sender_hash = ?1 UNION ALL SELECT reason FROM callback_requests "
            "WHERE sender_hash = ?1 UNION ALL SELECT details FROM handoff_tickets WHERE sender_hash = ?1", (lookup,)
        ).fetchall()
    return [row[0].encode("ascii") for row in rows]


def on_disk() -> bytes:
    """Every byte of the databases and their write-ahead logs (not the -shm index of the log,
    which any reader changes and which holds no rows)."""
    return b"".join(path.read_bytes() for path in sorted(Path("var/db").glob("*.db*")) if path.suffix != ".db-shm")


def what_is_left(store: ReportStore, sender: str) -> dict[str, int]:
    return {
        "reports": len(store.reports_for_sender(sender)),
        "callbacks": len(store.callbacks_for_sender(sender)),
        "tickets": int(TicketStore(store).active_for(sender) is not None),
        "queued": sum(1 for path in ReportQueue().pending()
                      if sender.encode() in Fernet(load_key()).decrypt(path.read_bytes())),
    }


EVERYTHING = {"reports": 2, "callbacks": 1, "tickets": 1, "queued": 1}
NOTHING = {"reports": 0, "callbacks": 0, "tickets": 0, "queued": 0}


def assert_only_the_resident_is_gone(store: ReportStore, secrets_of_resident: list[bytes]) -> None:
    assert senders_in_tracker() == {NEIGHBOUR}
    assert what_is_left(store, RESIDENT) == NOTHING
    assert what_is_left(store, NEIGHBOUR) == EVERYTHING
    files = on_disk()
    assert MARK[RESIDENT].encode() not in files  # the tracker's rows, in the database or its log
    assert MARK[NEIGHBOUR].encode() in files
    for secret in secrets_of_resident:  # the report database's rows (encrypted), nowhere either
        assert secret not in files


def test_erase_by_sender_reaches_every_store_and_leaves_no_copy_in_the_logs(servers, capsys):
    tracker_store, store = servers
    resident_rows = ciphertexts(store, RESIDENT)
    assert len(resident_rows) == 4
    files = on_disk()
    assert MARK[RESIDENT].encode() in Path("var/db/tracker.db-wal").read_bytes()  # the server's log holds it
    assert all(row in files for row in resident_rows)
    assert main(["erase", "--sender", RESIDENT]) == 0
    out = capsys.readouterr().out
    assert "conversation: erased 1 (4 events)" in out
    assert "reports waiting for the database: erased 1" in out
    assert "reports: erased 2; call-back requests: 1; handoff tickets: 1" in out
    assert RESIDENT not in out and "WANG" not in out  # counts only
    assert_only_the_resident_is_gone(store, resident_rows)
    # The servers go on with their open connections.
    asyncio.run(tracker_store.save(conversation(RESIDENT)))
    assert senders_in_tracker() == {NEIGHBOUR, RESIDENT}


def test_erase_by_reference_erases_the_conversation_it_came_from(servers, capsys):
    _, store = servers
    reference = store.reports_for_sender(RESIDENT)[0].reference
    resident_rows = ciphertexts(store, RESIDENT)
    assert main(["erase", "--reference", reference.lower().replace("-", " ")]) == 0
    out = capsys.readouterr().out
    assert "conversation: erased 1 (4 events)" in out
    assert "reports: erased 2; call-back requests: 1; handoff tickets: 1" in out
    assert RESIDENT not in out
    assert_only_the_resident_is_gone(store, resident_rows)
    assert main(["erase", "--reference", reference]) == 3
    assert "no report with this reference number; nothing erased" in capsys.readouterr().err


def test_dry_run_counts_and_changes_nothing(servers, capsys):
    _, store = servers
    before = on_disk(), sorted(p.read_bytes() for p in ReportQueue().pending())
    assert main(["erase", "--sender", RESIDENT, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "conversation: would erase 1 (4 events)" in out
    assert "reports waiting for the database: would erase 1" in out
    assert "reports: would erase 2; call-back requests: 1; handoff tickets: 1" in out
    assert (on_disk(), sorted(p.read_bytes() for p in ReportQueue().pending())) == before
    assert what_is_left(store, RESIDENT) == EVERYTHING


def test_an_unknown_sender_says_so_with_exit_code_3(servers, capsys):
    _, store = servers
    assert main(["erase", "--sender", "nobody-here"]) == 3
    captured = capsys.readouterr()
    assert "conversation: erased 0 (0 events)" in captured.out
    assert "reports: erased 0; call-back requests: 0; handoff tickets: 0" in captured.out
    assert "nothing of this sender was found in any store" in captured.err
    assert senders_in_tracker() == {RESIDENT, NEIGHBOUR}
    assert what_is_left(store, RESIDENT) == what_is_left(store, NEIGHBOUR) == EVERYTHING


@pytest.mark.parametrize(
    "arguments, message",
    [
        ([], "one of the arguments --sender --reference is required"),
        (["--sender", RESIDENT, "--reference", "FZ-20261122-7K3Q"], "not allowed with argument"),
        (["--reference", "12345"], "not a reference number like FZ-"),
        (["--reference", "FZ-20261340-7K3Q"], "the date in this reference number does not exist"),
        (["--sender", "  "], "a sender id is 1 to 255 characters"),
        (["--sender", "x" * 256], "a sender id is 1 to 255 characters"),
    ],
)
def test_bad_arguments_exit_2_and_erase_nothing(servers, capsys, arguments, message):
    before = on_disk()
    with pytest.raises(SystemExit) as exited:
        main(["erase", *arguments])
    assert exited.value.code == 2
    assert message in capsys.readouterr().err
    assert on_disk() == before


def test_the_installed_command_exits_2_on_a_bad_argument(workdir):
    done = subprocess.run([str(ROOT / ".venv" / "bin" / "fanzha"), "erase", "--reference", "soon"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "not a reference number like FZ-" in done.stderr


def test_a_tracker_store_it_cannot_reach_leaves_the_reports_for_a_second_run(servers, capsys):
    _, store = servers
    Path("endpoints.yml").write_text("tracker_store:\n  type: mongod\n  url: mongodb://localhost:27017\n", encoding="utf-8")
    assert main(["erase", "--sender", RESIDENT]) == 1
    err = capsys.readouterr().err
    assert "of type 'mongod'" in err and "erase this conversation with the store's own tools" in err
    assert "left as they were, so that the same command can be run again" in err
    assert what_is_left(store, RESIDENT) == EVERYTHING


def test_a_reader_holding_the_log_is_reported_not_hidden(servers, capsys):
    _, store = servers
    resident_rows = ciphertexts(store, RESIDENT)
    reader = sqlite3.connect("var/db/tracker.db")
    reader.execute("BEGIN")
    reader.execute("SELECT COUNT(*) FROM events").fetchone()  # a long read: its snapshot needs the log
    try:
        assert main(["erase", "--sender", RESIDENT]) == 1
        assert MARK[RESIDENT].encode() in Path("var/db/tracker.db-wal").read_bytes()
    finally:
        reader.close()
    err = capsys.readouterr().err
    assert "a long read kept the erased events in the write-ahead log" in err and "run the command again" in err
    assert what_is_left(store, RESIDENT) == EVERYTHING
    assert main(["erase", "--sender", RESIDENT]) == 0  # the second run finishes the job
    assert_only_the_resident_is_gone(store, resident_rows)


def test_without_a_report_database_the_conversation_is_still_erased(workdir, capsys):
    tracker_store = WALSQLTrackerStore(Domain.empty(), dialect="sqlite", db="var/db/tracker.db")
    asyncio.run(tracker_store.save(conversation(RESIDENT)))
    tracker_store.engine.dispose()
    assert main(["erase", "--sender", RESIDENT]) == 0
    out = capsys.readouterr().out
    assert "conversation: erased 1 (4 events)" in out and "no report database" in out
    assert not Path("var/db/fanzha.db").exists() and not Path("var/keys").exists()  # nothing created
    assert main(["erase", "--reference", "FZ-20261122-7K3Q"]) == 1
    assert "no report database at var/db/fanzha.db" in capsys.readouterr().err


@pytest.fixture
def redis_server() -> Iterator[Redis]:
    server = Redis("erase-test-password")
    try:
        yield server
    finally:
        server.stop()


def test_a_redis_tracker_store_loses_the_conversations_key(workdir, redis_server, capsys):
    Path("endpoints.yml").write_text(
        f"tracker_store:\n  type: redis\n  url: 127.0.0.1\n  port: {redis_server.port}\n"
        f"  password: ${{REDIS_PASSWORD}}\n  key_prefix: fanzha\n", encoding="utf-8",
    )
    store = RedisTrackerStore(Domain.empty(), port=redis_server.port, password=redis_server.password, key_prefix="fanzha")
    for sender in (RESIDENT, NEIGHBOUR):
        asyncio.run(store.save(conversation(sender)))
    client = redis_server.client()
    assert client.exists(f"fanzha:tracker:{RESIDENT}")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("REDIS_PASSWORD", redis_server.password)
        assert main(["erase", "--sender", RESIDENT, "--dry-run"]) == 0  # counted, kept
        assert client.exists(f"fanzha:tracker:{RESIDENT}")
        assert main(["erase", "--sender", RESIDENT]) == 0
    assert "conversation: erased 1 (4 events)" in capsys.readouterr().out
    assert not client.exists(f"fanzha:tracker:{RESIDENT}")
    assert client.exists(f"fanzha:tracker:{NEIGHBOUR}")
