"""Reports that wait on disk while the database is away: kept encrypted, stored once, in order."""
from __future__ import annotations

import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from bot.services.report_queue import ReportQueue, Retrier
from bot.services.reports.errors import StorageError
from bot.services.reports.store import ReportStore

REPORT = dict(channel="rest", scam_type="impersonate_police", risk="high", status="finished", sender="resident-1")
FIELDS = {"amount": "4万8", "receiving_account": "对方卡号6217000011112222333", "story": "对方自称警察"}


@pytest.fixture()
def env(tmp_path: Path) -> dict[str, str]:
    return {"FANZHA_REPORT_KEY": Fernet.generate_key().decode(), "FANZHA_REPORT_QUEUE": str(tmp_path / "queue")}


def open_store(tmp_path: Path, env: dict[str, str]) -> ReportStore:
    return ReportStore(f"sqlite:///{tmp_path / 'reports.db'}", env=env)


class DownStore:
    def save_report(self, *args: object, **kwargs: object) -> None:
        raise StorageError("the report database did not take the report: OperationalError")


def test_a_queued_report_is_encrypted_on_disk_and_owner_only(tmp_path: Path, env: dict[str, str]) -> None:
    path = ReportQueue(env=env).put(FIELDS, **REPORT)
    raw = path.read_bytes()
    assert "6217000011112222333".encode() not in raw and "警察".encode("utf-8") not in raw
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.parent.stat().st_mode & 0o777 == 0o700


def test_flush_stores_each_waiting_report_once_oldest_first_with_its_time(tmp_path: Path, env: dict[str, str]) -> None:
    queue = ReportQueue(env=env)
    before = datetime.now(timezone.utc)
    queue.put(FIELDS, **REPORT)
    queue.put({**FIELDS, "amount": "500"}, **REPORT)
    queued_by = datetime.now(timezone.utc)
    time.sleep(0.05)
    store = open_store(tmp_path, env)
    references = queue.flush(store)
    assert len(references) == 2 and queue.pending() == []
    assert queue.flush(store) == []  # nothing twice
    stored = [store.get_report(reference) for reference in references]
    assert [r.fields["amount"] for r in stored] == ["4万8", "500"]
    assert all(before <= r.created_at <= queued_by for r in stored)  # when finished, not when stored
    assert store.reports_for_sender("resident-1")[0].status == "finished"


def test_while_the_database_is_down_every_report_keeps_waiting(env: dict[str, str]) -> None:
    queue = ReportQueue(env=env)
    queue.put(FIELDS, **REPORT)
    with pytest.raises(StorageError):
        queue.flush(DownStore())  # type: ignore[arg-type]
    assert len(queue.pending()) == 1


def test_a_file_the_key_cannot_open_is_left_for_a_person_and_the_rest_is_stored(tmp_path: Path, env: dict[str, str]) -> None:
    queue = ReportQueue(env=env)
    queue.put(FIELDS, **REPORT)
    stranger = ReportQueue(env={**env, "FANZHA_REPORT_KEY": Fernet.generate_key().decode()})
    stranger.put(FIELDS, **REPORT)
    assert len(queue.flush(open_store(tmp_path, env))) == 1
    assert len(queue.pending()) == 1


def test_a_queue_that_cannot_be_written_is_a_storage_error(tmp_path: Path, env: dict[str, str]) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    with pytest.raises(StorageError, match="cannot keep the report"):
        ReportQueue(blocked, env=env).put(FIELDS, **REPORT)


def test_the_retrier_stores_the_queue_once_the_database_is_back(tmp_path: Path, env: dict[str, str]) -> None:
    queue = ReportQueue(env=env)
    queue.put(FIELDS, **REPORT)
    stores: list[object] = [DownStore(), DownStore()]

    def open_or_fail() -> object:
        return stores.pop(0) if stores else open_store(tmp_path, env)

    Retrier(queue, open_or_fail, every=0.05).start()  # type: ignore[arg-type]
    deadline = time.monotonic() + 5
    while queue.pending() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert queue.pending() == []
    assert len(open_store(tmp_path, env).reports_for_sender("resident-1")) == 1
