"""``fanzha report show|export|delete`` against a real report database in a temporary folder."""
from __future__ import annotations

import csv
import io
import stat
import subprocess
from datetime import datetime, timezone
from pathlib import Path

import pytest

from bot.cli.main import build_parser, cmd_check, main
from bot.services.reports.crypto import ENV_REPORT_KEY
from bot.services.reports.store import ENV_DATABASE_URL, ReportStore
from tests.conftest import ROOT

ACCOUNT = "6222021234567890123"


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(ENV_DATABASE_URL, raising=False)
    monkeypatch.delenv(ENV_REPORT_KEY, raising=False)
    monkeypatch.delenv("FANZHA_ENDPOINTS", raising=False)
    return tmp_path


def seed(*days: tuple[datetime, dict]) -> list[str]:
    """Store reports as if made at the given times; return their references."""
    references = []
    for at, fields in days:
        store = ReportStore(clock=lambda at=at: at)  # type: ignore[misc]  # binds this loop's time
        try:
            references.append(store.save_report(fields, channel="rest", scam_type="shuadan", risk="high").reference)
        finally:
            store.close()
    return references


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)  # type: ignore[misc]  # year to second, never seven


def test_check_is_still_a_command():
    assert build_parser().parse_args(["check", "对方让我转到安全账户"]).func is cmd_check


def test_show_prints_the_decrypted_summary(workdir, capsys):
    story = "对方让我报验证码，验证码是482913。" + "他一直说连单要我继续充值。" * 20
    [reference] = seed((utc(2026, 11, 22, 2, 0), {"amount": "5万", "receiving_account": ACCOUNT, "receiving_name": "王小明", "story": story}))
    assert main(["report", "show", reference.lower()]) == 0
    out = capsys.readouterr().out
    assert reference in out
    assert "6222 0212 3456 7890 123" in out and "王小明" in out and "50,000元" in out
    assert "刷单返利" in out and "finished" in out
    assert "2026-11-22 10:00" in out  # Beijing time
    assert "482913" not in out
    assert "事情经过（全文）" in out and out.count("连单") >= 20  # the full story for the officer


def test_show_an_unknown_or_malformed_reference_fails_with_a_message(workdir, capsys):
    seed((utc(2026, 11, 22, 2, 0), {"amount": "1千"}))
    assert main(["report", "show", "FZ-20261122-7K3Q"]) == 1
    assert "FZ-20261122-7K3Q: no report with this reference number" in capsys.readouterr().err
    assert main(["report", "show", "12345"]) == 1
    assert "not a reference number like FZ-" in capsys.readouterr().err


def test_without_a_database_the_commands_say_so_and_create_nothing(workdir, capsys):
    assert main(["report", "show", "FZ-20261122-7K3Q"]) == 1
    assert "no report database at var/db/fanzha.db" in capsys.readouterr().err
    assert main(["report", "export", "--since", "2026-11-01"]) == 1
    assert not (workdir / "var").exists() and not (workdir / "data").exists()


def test_export_writes_the_reports_since_a_day(workdir, capsys):
    old, new, newer = seed(
        (utc(2026, 11, 19, 3, 0), {"amount": "1千", "story": "旧的"}),
        (utc(2026, 11, 20, 16, 30), {"amount": "5万", "receiving_account": ACCOUNT, "payment_channel": ["alipay", "bank_card"]}),
        (utc(2026, 11, 22, 3, 0), {"amount": "2千", "story": "=HYPERLINK(\"http://x.top\",\"点我\")", "extra_note": "补充"}),
    )
    assert main(["report", "export", "--since", "2026-11-21"]) == 0
    captured = capsys.readouterr()
    rows = list(csv.DictReader(io.StringIO(captured.out)))
    assert [r["reference"] for r in rows] == [new, newer]
    assert "2 reports since 2026-11-21" in captured.err
    first = rows[0]
    assert first["receiving_account"] == ACCOUNT and first["amount"] == "5万"
    assert first["payment_channel"] == "alipay、bank_card"
    assert first["created_at"] == "2026-11-21T00:30:00+08:00"
    assert (first["scam_type"], first["scam_name"], first["risk"], first["status"]) == ("shuadan", "刷单返利", "high", "finished")
    assert rows[1]["story"].startswith("'=")  # never a live spreadsheet formula
    assert rows[1]["extra_note"] == "补充" and first["extra_note"] == ""
    assert old not in captured.out


def test_export_to_a_file_is_owner_only_and_never_overwrites(workdir, capsys):
    [reference] = seed((utc(2026, 11, 22, 3, 0), {"amount": "5万", "receiving_name": "王小明"}))
    out = workdir / "duty.csv"
    assert main(["report", "export", "--since", "2026-11-22", "--out", str(out)]) == 0
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    raw = out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # BOM: spreadsheets read the Chinese correctly
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows[0]["reference"] == reference and rows[0]["receiving_name"] == "王小明"
    assert main(["report", "export", "--since", "2026-11-01", "--out", str(out)]) == 1
    assert "already exists" in capsys.readouterr().err
    assert out.read_bytes() == raw


@pytest.mark.parametrize("bad", ["2026-13-01", "yesterday", "2026/11/01", ""])
def test_export_with_a_bad_date_says_what_is_expected(workdir, capsys, bad):
    with pytest.raises(SystemExit) as exit_:
        main(["report", "export", "--since", bad])
    assert exit_.value.code == 2
    assert "is not a date YYYY-MM-DD" in capsys.readouterr().err


def test_delete_erases_one_report(workdir, capsys):
    gone, kept = seed((utc(2026, 11, 22, 3, 0), {"amount": "5万"}), (utc(2026, 11, 22, 4, 0), {"amount": "3千"}))
    assert main(["report", "delete", gone]) == 0
    assert f"deleted {gone}" in capsys.readouterr().out
    assert main(["report", "show", gone]) == 1
    assert main(["report", "delete", gone]) == 1
    assert "no report with this reference number" in capsys.readouterr().err
    assert main(["report", "show", kept]) == 0


def test_the_installed_command_runs_report_subcommands(workdir):
    [reference] = seed((utc(2026, 11, 22, 3, 0), {"amount": "5万"}))
    fanzha = ROOT / ".venv" / "bin" / "fanzha"
    shown = subprocess.run([str(fanzha), "report", "show", reference], capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0 and reference in shown.stdout
    missing = subprocess.run([str(fanzha), "report", "show", "FZ-20261122-7K3Q"], capture_output=True, text=True, timeout=120)
    assert missing.returncode == 1 and "no report with this reference number" in missing.stderr


def test_delete_also_erases_every_copy_of_the_answers_but_not_the_conversations_other_reports(workdir, capsys):
    """The answers are also in the conversation's tracker events, the ticket's details and the
    call-back request: a deleted report must leave no copy of them."""
    import asyncio
    import sqlite3

    from rasa.shared.core.domain import Domain

    from bot.services.handoff import TicketStore
    from bot.stores.tracker_store import WALSQLTrackerStore
    from tests.test_erase import ENDPOINTS, MARK, NEIGHBOUR, RESIDENT, SAID, conversation

    (workdir / "var" / "db").mkdir(parents=True)
    (workdir / "endpoints.yml").write_text(ENDPOINTS, encoding="utf-8")
    tracker_store = WALSQLTrackerStore(Domain.empty(), dialect="sqlite", db="var/db/tracker.db")  # the running server's
    store = ReportStore()
    try:
        references = {}
        for sender in (RESIDENT, NEIGHBOUR):
            asyncio.run(tracker_store.save(conversation(sender)))
            answers = {"receiving_name": SAID[sender]}
            references[sender] = [store.save_report(answers, channel="socketio", sender=sender, status=status).reference
                                  for status in ("abandoned", "finished")]
            store.request_callback(sender=sender, channel="voice", reason=f"no-answer: {SAID[sender]}")
            TicketStore(store).open_ticket(sender=sender, channel="socketio", reason="request", report=answers)
        abandoned, finished = references[RESIDENT]
        assert main(["report", "delete", abandoned]) == 0
        out = capsys.readouterr().out
        assert "conversation: erased 1 (4 events)" in out
        assert "reports: erased 1; call-back requests: 1; handoff tickets: 1" in out
        assert f"deleted {abandoned}" in out and f"kept 1 other report(s) of the same conversation: {finished}" in out
        assert [r.reference for r in store.reports_for_sender(RESIDENT)] == [finished]
        assert not store.callbacks_for_sender(RESIDENT) and TicketStore(store).active_for(RESIDENT) is None
        with sqlite3.connect("var/db/tracker.db") as conn:
            assert {row[0] for row in conn.execute("SELECT DISTINCT sender_id FROM events")} == {NEIGHBOUR}
        tracker_files = Path("var/db/tracker.db").read_bytes() + Path("var/db/tracker.db-wal").read_bytes()
        assert MARK[RESIDENT].encode() not in tracker_files and MARK[NEIGHBOUR].encode() in tracker_files
        assert len(store.reports_for_sender(NEIGHBOUR)) == 2 and store.callbacks_for_sender(NEIGHBOUR)
    finally:
        tracker_store.engine.dispose()
        store.close()


def test_delete_keeps_the_report_when_the_conversation_cannot_be_erased(workdir, capsys):
    store = ReportStore()
    try:
        reference = store.save_report({"amount": "5万"}, channel="rest", sender="resident-1").reference
    finally:
        store.close()
    assert main(["report", "delete", reference]) == 1  # no endpoints file in this folder: no tracker store
    err = capsys.readouterr().err
    assert "no endpoints file at endpoints.yml" in err and f"{reference} was not deleted" in err
    assert main(["report", "show", reference]) == 0
