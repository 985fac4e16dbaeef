"""The report store: round trip, encryption at rest, the key, migrations, restart, erasure, export."""
from __future__ import annotations

import json
import os
import re
import stat
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import create_engine, inspect, select, text

from bot.services.reports.crypto import ENV_REPORT_KEY
from bot.services.reports.errors import ReportKeyError, StorageError, UnknownReference
from bot.services.reports.schema import MIGRATIONS, callbacks_table, migrate, reports_table, schema_version_of
from bot.services.reports.store import ABANDONED, FINISHED, REFERENCE_ALPHABET, ReportStore, normalize_reference

ACCOUNT = "6222021234567890123"
NAME = "王小明"
PHONE = "13987654321"
WECHAT = "wxid_scammer88"
SENDER = "resident-7f3a"


def answers(**overrides):
    fields = {
        "happened_at": "昨天晚上",
        "amount": "5万",
        "payment_channel": "bank_card",
        "receiving_account": ACCOUNT,
        "receiving_name": NAME,
        "scammer_contact": f"电话{PHONE}，微信号{WECHAT}",
        "story": "对方说连单了要我继续充值",
    }
    fields.update(overrides)
    return fields


class Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


@pytest.fixture
def paths(tmp_path: Path):
    return {"url": f"sqlite:///{tmp_path / 'data' / 'fanzha.db'}", "key_file": tmp_path / "data" / "report.key"}


@pytest.fixture
def open_store(paths):
    opened = []

    def make(**kwargs) -> ReportStore:
        kwargs = {**paths, "env": {}, **kwargs}
        store = ReportStore(**kwargs)
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()


def raw_bytes(tmp_path: Path) -> bytes:
    """Everything SQLite has on disk: the database and its write-ahead log."""
    return b"".join(p.read_bytes() for p in (tmp_path / "data").glob("fanzha.db*"))


# --- round trip ------------------------------------------------------------------------------


def test_a_report_comes_back_as_it_was_stored(open_store):
    store = open_store()
    saved = store.save_report(answers(), channel="rest", scam_type="shuadan", risk="high", sender=SENDER)
    again = store.get_report(saved.reference)
    assert again == saved
    assert again.fields == answers()
    assert (again.scam_type, again.risk, again.channel, again.status, again.sender) == ("shuadan", "high", "rest", FINISHED, SENDER)
    assert again.created_at.tzinfo is not None and again.created_at == again.updated_at


def test_a_reference_read_out_loosely_still_finds_the_report(open_store):
    store = open_store()
    reference = store.save_report(answers(), channel="rest").reference
    loose = reference.lower().replace("-", " ")
    assert store.get_report(loose).reference == reference
    for bad in ("", "FZ-2026-ABCD", "FZ-20261122-7K3", "FZ-20261122-0000", "FZ-20261340-7K3Q"):
        with pytest.raises(UnknownReference):
            store.get_report(bad)


def test_reference_numbers_are_readable_unique_and_dated_in_beijing_time(open_store):
    # 17:30 UTC on the 21st is already the 22nd in Beijing.
    store = open_store(clock=Clock(datetime(2026, 11, 21, 17, 30, tzinfo=timezone.utc)))
    references = [store.save_report({"amount": str(i)}, channel="rest").reference for i in range(120)]
    assert len(set(references)) == 120
    for reference in references:
        assert re.fullmatch(rf"FZ-20261122-[{REFERENCE_ALPHABET}]{{4}}", reference)
    assert not set("01258BILOSZ") & set(REFERENCE_ALPHABET)
    assert normalize_reference(references[0]) == references[0]


def test_update_merges_answers_and_marks_the_status(open_store):
    clock = Clock(datetime(2026, 11, 22, 1, 0, tzinfo=timezone.utc))
    store = open_store(clock=clock)
    saved = store.save_report({"amount": "5万"}, channel="voice", status=ABANDONED)
    clock.at += timedelta(minutes=5)
    updated = store.update_report(saved.reference, fields={"receiving_name": NAME}, status=FINISHED, risk="high")
    assert updated.fields == {"amount": "5万", "receiving_name": NAME}
    assert (updated.status, updated.risk) == (FINISHED, "high")
    assert updated.updated_at - updated.created_at == timedelta(minutes=5)
    with pytest.raises(StorageError, match="status"):
        store.update_report(saved.reference, status="lost")
    with pytest.raises(UnknownReference):
        store.update_report("FZ-20261122-7K3Q", status=FINISHED)
    with pytest.raises(StorageError, match="channel"):
        store.save_report({}, channel="")


# --- privacy ----------------------------------------------------------------------------------


def test_nothing_personal_is_readable_in_the_database_files(open_store, tmp_path):
    store = open_store()
    saved = store.save_report(answers(), channel="wechat", scam_type="shuadan", sender=SENDER)
    store.request_callback(sender=SENDER, channel="wechat", reason=f"请联系我，户名{NAME}", phone=PHONE)
    secrets = [ACCOUNT, NAME, PHONE, WECHAT, SENDER, "连单"]
    while_open = raw_bytes(tmp_path)
    assert saved.reference.encode() in while_open  # the right files are being read
    for secret in secrets:
        assert secret.encode("utf-8") not in while_open, secret
    store.close()
    after = raw_bytes(tmp_path)
    assert saved.reference.encode() in after
    for secret in secrets:
        assert secret.encode("utf-8") not in after, secret


def test_secrets_are_masked_before_they_are_stored(open_store, paths):
    store = open_store()
    fields = answers(story="客服让我说验证码，验证码是482913，支付密码是pw778899，我的卡号6217001234567890123")
    saved = store.save_report(fields, channel="rest")
    store.request_callback(sender=SENDER, channel="rest", reason="刚才把验证码是551234告诉了对方", phone=PHONE)
    # Decrypt what is on disk directly: the masking happened before encryption, not on reading.
    key = paths["key_file"].read_bytes().strip()
    engine = create_engine(paths["url"])
    with engine.connect() as conn:
        stored = json.loads(Fernet(key).decrypt(conn.execute(select(reports_table.c.fields)).scalar_one().encode()))
        reason = Fernet(key).decrypt(conn.execute(select(callbacks_table.c.reason)).scalar_one().encode()).decode()
    engine.dispose()
    for secret in ("482913", "pw778899", "6217001234567890123"):
        assert secret not in stored["story"]
    assert "〔验证码已隐去〕" in stored["story"] and "〔银行卡号已隐去〕" in stored["story"]
    assert stored["receiving_account"] == ACCOUNT  # the police need the receiving account
    assert "551234" not in reason and "〔验证码已隐去〕" in reason
    assert saved.fields == stored


def test_senders_are_found_without_being_stored_in_clear(open_store):
    store = open_store()
    first = store.save_report({"amount": "1千"}, channel="rest", sender=SENDER)
    store.save_report({"amount": "2千"}, channel="rest", sender="someone-else")
    store.request_callback(sender=SENDER, channel="rest", reason="想和值班民警说", phone=None)
    assert [r.reference for r in store.reports_for_sender(SENDER)] == [first.reference]
    calls = store.callbacks_for_sender(SENDER)
    assert len(calls) == 1 and calls[0].phone is None and calls[0].reason == "想和值班民警说"
    assert store.callbacks_for_sender("nobody") == []
    with pytest.raises(StorageError, match="reason"):
        store.request_callback(sender=SENDER, channel="rest", reason=" ")


# --- the key ----------------------------------------------------------------------------------


def test_a_new_key_file_is_owner_only(open_store, paths):
    old_umask = os.umask(0o022)
    try:
        open_store()
    finally:
        os.umask(old_umask)
    key_file: Path = paths["key_file"]
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    Fernet(key_file.read_bytes().strip())  # a valid key
    database = Path(paths["url"].removeprefix("sqlite:///"))
    assert stat.S_IMODE(database.stat().st_mode) == 0o600


def test_the_wrong_key_is_refused_before_anything_is_written(open_store, paths):
    store = open_store()
    saved = store.save_report(answers(), channel="rest")
    store.close()
    other = Fernet.generate_key().decode()
    with pytest.raises(ReportKeyError, match=f"from {ENV_REPORT_KEY} does not open the reports"):
        open_store(env={ENV_REPORT_KEY: other})
    assert open_store().get_report(saved.reference).fields == answers()


def test_a_malformed_or_unreadable_key_is_a_clear_error(open_store, paths, tmp_path):
    with pytest.raises(ReportKeyError, match=f"{ENV_REPORT_KEY} is not a valid report key"):
        open_store(env={ENV_REPORT_KEY: "not-a-key"})
    bad_file = tmp_path / "bad.key"
    bad_file.write_text("short\n")
    with pytest.raises(ReportKeyError, match="bad.key is not a valid report key"):
        open_store(key_file=bad_file, url=f"sqlite:///{tmp_path / 'other.db'}")
    a_folder = tmp_path / "folder.key"
    a_folder.mkdir()
    with pytest.raises(ReportKeyError, match="cannot read the report key"):
        open_store(key_file=a_folder, url=f"sqlite:///{tmp_path / 'third.db'}")


def test_a_lost_key_file_is_an_error_not_a_new_key(open_store, paths):
    open_store().save_report(answers(), channel="rest")
    paths["key_file"].unlink()
    with pytest.raises(ReportKeyError, match="no report key"):
        open_store()
    assert not paths["key_file"].exists()


def test_the_key_can_come_from_the_environment(open_store, paths):
    key = Fernet.generate_key().decode()
    store = open_store(env={ENV_REPORT_KEY: key})
    saved = store.save_report(answers(), channel="rest")
    store.close()
    assert not paths["key_file"].exists()
    assert open_store(env={ENV_REPORT_KEY: key}).get_report(saved.reference).fields == answers()


# --- schema, restart ------------------------------------------------------------------------


def test_an_empty_database_is_migrated_to_the_current_schema(open_store, paths):
    database = Path(paths["url"].removeprefix("sqlite:///"))
    database.parent.mkdir(parents=True)
    database.write_bytes(b"")  # an empty file, as a fresh volume might hold
    store = open_store()
    assert schema_version_of(store.engine) == len(MIGRATIONS)
    assert {"schema_version", "reports", "callback_requests", "store_settings"} <= set(inspect(store.engine).get_table_names())
    with store.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() == 5000
        assert conn.execute(text("PRAGMA secure_delete")).scalar() == 1


def test_forward_migrations_run_once_and_keep_the_data(open_store, paths):
    saved = open_store().save_report(answers(), channel="rest")
    runs = []

    def add_column(conn):
        runs.append(1)
        conn.execute(text("ALTER TABLE reports ADD COLUMN district VARCHAR(32)"))

    engine = create_engine(paths["url"])
    assert migrate(engine, MIGRATIONS + (add_column,)) == len(MIGRATIONS) + 1
    assert migrate(engine, MIGRATIONS + (add_column,)) == len(MIGRATIONS) + 1
    assert runs == [1]
    assert "district" in {c["name"] for c in inspect(engine).get_columns("reports")}
    engine.dispose()
    # The program that knows fewer migrations refuses to touch the newer database.
    with pytest.raises(StorageError, match="newer than this program"):
        open_store()
    engine = create_engine(paths["url"])
    with engine.begin() as conn:
        conn.execute(text("UPDATE schema_version SET version = :v"), {"v": len(MIGRATIONS)})
    engine.dispose()
    assert open_store().get_report(saved.reference).fields == answers()


def test_reports_survive_a_restart(open_store):
    store = open_store()
    saved = store.save_report(answers(), channel="rest", sender=SENDER)
    store.request_callback(sender=SENDER, channel="rest", reason="回电", phone=PHONE)
    store.close()
    again = open_store()
    assert again.get_report(saved.reference) == saved
    assert again.callbacks_for_sender(SENDER)[0].phone == PHONE


def test_two_stores_on_one_file_see_each_others_writes(open_store):
    a, b = open_store(), open_store()
    saved = a.save_report(answers(), channel="rest")
    assert b.get_report(saved.reference).fields == answers()
    b.delete_report(saved.reference)
    with pytest.raises(UnknownReference):
        a.get_report(saved.reference)


# --- erasure and export ---------------------------------------------------------------------


def test_delete_erases_one_report_and_leaves_the_others(open_store, tmp_path):
    store = open_store()
    gone = store.save_report(answers(), channel="rest")
    kept = store.save_report(answers(amount="3千"), channel="rest")
    store.delete_report(gone.reference.lower())
    with pytest.raises(UnknownReference):
        store.get_report(gone.reference)
    with pytest.raises(UnknownReference):
        store.delete_report(gone.reference)
    assert store.get_report(kept.reference).fields["amount"] == "3千"
    store.close()
    # Overwritten, not left behind in a free page.
    on_disk = raw_bytes(tmp_path)
    assert gone.reference.encode() not in on_disk and kept.reference.encode() in on_disk


def test_reports_since_a_day_follow_the_beijing_calendar(open_store):
    clock = Clock(datetime(2026, 11, 19, 12, 0, tzinfo=timezone.utc))
    store = open_store(clock=clock)
    made = {}
    for label, at in {
        "19th": datetime(2026, 11, 19, 12, 0),
        "20th late": datetime(2026, 11, 20, 15, 59),  # 23:59 on the 20th in Beijing
        "21st early": datetime(2026, 11, 20, 16, 1),  # 00:01 on the 21st in Beijing
        "22nd": datetime(2026, 11, 22, 3, 0),
    }.items():
        clock.at = at.replace(tzinfo=timezone.utc)
        made[label] = store.save_report({"story": label}, channel="rest").reference
    since = store.reports_since(date(2026, 11, 21))
    assert [r.reference for r in since] == [made["21st early"], made["22nd"]]
    assert made["21st early"].startswith("FZ-20261121-")
    assert len(store.reports_since(date(2026, 11, 1))) == 4
    assert store.reports_since(date(2026, 11, 23)) == []
    clock.at = datetime(2026, 11, 22, 4, 0, tzinfo=timezone.utc)
    store.request_callback(sender=SENDER, channel="rest", reason="回电")
    assert len(store.callbacks_since(date(2026, 11, 22))) == 1
    assert store.callbacks_since(date(2026, 11, 23)) == []


def test_the_command_line_never_creates_a_database(paths):
    with pytest.raises(StorageError, match="no report database"):
        ReportStore(create=False, env={}, **paths)
    assert not Path(paths["url"].removeprefix("sqlite:///")).exists()
    assert not paths["key_file"].exists()


def test_threads_and_a_second_store_write_at_the_same_time(open_store):
    from concurrent.futures import ThreadPoolExecutor

    first, second = open_store(), open_store()  # two stores: as the action server and the CLI would be

    def write(i: int) -> str:
        store = first if i % 2 else second
        return store.save_report(answers(amount=f"{i}千"), channel="rest", sender=f"user-{i}").reference

    with ThreadPoolExecutor(max_workers=6) as pool:
        references = list(pool.map(write, range(60)))
    assert len(set(references)) == 60
    assert {first.get_report(r).fields["amount"] for r in references} == {f"{i}千" for i in range(60)}
