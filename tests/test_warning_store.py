"""The early warning store (bot/services/early_warnings/store.py) against a real SQLite file: merging,
encryption at rest, the dispatcher's compare-and-set leases across two processes' stores and
threads, attempts and Twilio status callbacks, Beijing days, outcomes, and migration 7."""
from __future__ import annotations

import threading
import time
import uuid
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Iterator

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import create_engine, inspect

from bot.services.early_warnings.store import (
    OUTCOMES,
    NewWarning,
    UnknownWarning,
    WarningError,
    WarningStore,
    masked_phone,
    merge_window_from_env,
)
from bot.services.reports.errors import StorageError
from bot.services.reports.schema import MIGRATIONS, migrate, schema_version_of
from bot.services.reports.store import ReportStore
from tests.shared_stores import Postgres

PHONE = "+8613812345678"
OTHER = "+8613987654321"
START = datetime(2026, 11, 22, 1, 0, tzinfo=timezone.utc)  # 09:00 in Beijing


class Clock:
    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@pytest.fixture
def key() -> str:
    return Fernet.generate_key().decode()


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'fanzha.db'}"


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def open_store(url, key, tmp_path, clock):
    opened: list[ReportStore] = []

    def make(merge_window: timedelta = timedelta(hours=24)) -> WarningStore:
        reports = ReportStore(url=url, key_file=tmp_path / "keys" / "report.key", env={"FANZHA_REPORT_KEY": key}, clock=clock)
        opened.append(reports)
        return WarningStore(reports, merge_window)

    yield make
    for reports in opened:
        reports.close()


@pytest.fixture
def store(open_store) -> WarningStore:
    return open_store()


def new(phone: str = PHONE, level: str = "orange", scam_type: str | None = None, note: str = "正在通话",
        source: str = "市反诈中心", received_at: datetime = START) -> NewWarning:
    return NewWarning(phone, level, scam_type, note, source, received_at)


# --- warnings in, merging -----------------------------------------------------------------------


def test_a_new_warning_is_open_due_now_and_audited(store, clock):
    warning, merged = store.add(new(scam_type="investment"), "import:市反诈中心")
    assert not merged
    assert (warning.phone, warning.level, warning.scam_type, warning.status) == (PHONE, "orange", "investment", "open")
    assert warning.next_attempt_at == clock.now and warning.calls_made == 0 and warning.merged == 0
    assert not warning.urgent and warning.outcome is None
    [event] = store.events(warning.id)
    assert (event.kind, event.actor) == ("imported", "import:市反诈中心")
    assert store.get(warning.id) == warning


def test_a_duplicate_is_merged_the_level_raised_and_a_red_merge_made_due_now(store, clock):
    first, _ = store.add(new(level="yellow", note="对方自称客服"), "import:a")
    store.release(first.id, "nobody", None)  # (no lease: nothing happens)
    store.claim_due("w", clock.now, timedelta(seconds=60), 10)
    store.release(first.id, "w", clock.now + timedelta(hours=1))  # scheduled later
    clock.advance(minutes=10)
    same, merged = store.add(new(level="red", scam_type="fake_customer_service", note="正在转账",
                                 received_at=START + timedelta(hours=3)), "console:agent")
    assert merged and same.id == first.id
    assert same.level == "red" and same.urgent and same.merged == 1
    assert same.scam_type == "fake_customer_service"
    assert same.note == "对方自称客服\n正在转账"
    assert same.next_attempt_at == clock.now  # a person may be paying now: not in an hour
    # A less urgent duplicate keeps red, adds nothing twice, and changes no schedule.
    again, merged = store.add(new(level="orange", scam_type="investment", note="正在转账"), "import:b")
    assert merged and (again.level, again.scam_type, again.note, again.merged) == ("red", "fake_customer_service",
                                                                                 "对方自称客服\n正在转账", 2)
    kinds = [(event.kind, event.state, event.actor) for event in store.events(first.id)]
    assert kinds == [("imported", "yellow", "import:a"), ("merged", "red", "console:agent"), ("merged", "red", "import:b")]
    assert len(store.open_warnings()) == 1


def test_outside_the_window_closed_or_another_number_is_a_new_warning(open_store):
    store = open_store(merge_window=timedelta(hours=2))
    first, _ = store.add(new(), "cli")
    later, merged = store.add(new(received_at=START + timedelta(hours=3)), "cli")
    assert not merged and later.id != first.id
    other, merged = store.add(new(phone=OTHER), "cli")
    assert not merged
    store.set_outcome(later.id, "not_scam", "cli")
    store.set_outcome(first.id, "not_scam", "cli")
    after_close, merged = store.add(new(), "cli")
    assert not merged and after_close.id not in (first.id, later.id)


def add_at_once(stores: list[WarningStore]) -> None:
    """Eight threads over the stores add a warning for the same number at the same moment."""
    barrier = threading.Barrier(8)
    results = []

    def add(index: int) -> None:
        barrier.wait()
        results.append(stores[index % len(stores)].add(new(note=f"第{index}条"), f"import:{index}"))

    threads = [threading.Thread(target=add, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({warning.id for warning, _ in results}) == 1
    assert sorted(merged for _, merged in results) == [False] + [True] * 7
    assert stores[0].get(results[0][0].id).merged == 7


def test_two_stores_adding_the_same_number_at_once_make_one_warning(open_store):
    add_at_once([open_store(), open_store()])


def test_the_store_refuses_a_malformed_warning_naming_the_field(store):
    for bad, field in [(new(phone="13812345678"), "phone"), (new(level="purple"), "level"), (new(source=""), "source"),
                       (new(note="长" * 501), "note"), (new(received_at=datetime(2026, 11, 22, 9)), "received_at")]:
        with pytest.raises(WarningError, match=f"^{field}: "):
            store.add(bad, "cli")
    with pytest.raises(WarningError, match="actor"):
        store.add(new(), "")
    assert store.open_warnings() == []


def test_phone_and_note_are_encrypted_at_rest(store, url):
    secret_note = "居民说验证码是 482913，对方是假客服老王"
    warning, _ = store.add(new(note=secret_note), "cli")
    store.record(warning.id, "answer", "money_moving", "call", detail="居民说正在给老王转账")
    assert "482913" not in store.get(warning.id).note and "〔验证码已隐去〕" in store.get(warning.id).note
    database = Path(url.removeprefix("sqlite:///"))
    raw = b"".join(path.read_bytes() for path in database.parent.glob(database.name + "*"))  # the file and its -wal
    for clear in ("13812345678", "老王", "482913", "假客服"):
        assert clear.encode() not in raw, clear
    assert "市反诈中心".encode() in raw  # the source is in clear on purpose: the duty desk sorts by it


def test_a_store_with_another_key_cannot_read_the_warnings(store, url, tmp_path):
    store.add(new(), "cli")
    with pytest.raises(StorageError, match="does not open"):
        ReportStore(url=url, key_file=tmp_path / "keys" / "report.key", env={"FANZHA_REPORT_KEY": Fernet.generate_key().decode()})


# --- reading ----------------------------------------------------------------------------------


def test_open_warnings_red_first_then_oldest_and_the_other_views(store):
    yellow, _ = store.add(new(phone="+8613800000001", level="yellow", received_at=START - timedelta(hours=5)), "cli")
    red_new, _ = store.add(new(phone="+8613800000002", level="red", received_at=START), "cli")
    red_old, _ = store.add(new(phone="+8613800000003", level="red", received_at=START - timedelta(hours=1)), "cli")
    orange, _ = store.add(new(phone="+8613800000004", level="orange", received_at=START - timedelta(hours=9)), "cli")
    closed, _ = store.add(new(phone="+8613800000005", level="red", received_at=START - timedelta(hours=9)), "cli")
    store.set_outcome(closed.id, "dissuaded", "cli")
    assert [w.id for w in store.open_warnings()] == [red_old.id, red_new.id, orange.id, yellow.id]
    assert [w.id for w in store.warnings_between()] == [orange.id, closed.id, yellow.id, red_old.id, red_new.id]
    assert [w.id for w in store.warnings_between(START - timedelta(hours=5), START)] == [yellow.id, red_old.id]
    assert [w.id for w in store.find_by_phone("+8613800000003")] == [red_old.id]
    assert store.find_by_phone(OTHER) == []
    with pytest.raises(UnknownWarning, match="warning 999: no such warning"):
        store.get(999)
    assert masked_phone(PHONE) == "138****5678"


# --- the dispatcher's leases --------------------------------------------------------------------


def test_claim_takes_due_open_warnings_red_first_and_a_lease_keeps_others_off(store, clock):
    orange, _ = store.add(new(phone="+8613800000001", level="orange", received_at=START - timedelta(hours=1)), "cli")
    red, _ = store.add(new(phone="+8613800000002", level="red"), "cli")
    later, _ = store.add(new(phone="+8613800000003", level="red"), "cli")
    closed, _ = store.add(new(phone="+8613800000004", level="red"), "cli")
    store.set_outcome(closed.id, "wrong_number", "cli")
    lease = timedelta(seconds=60)
    assert [w.id for w in store.claim_due("w1", clock.now, lease, 1)] == [red.id]
    taken = store.claim_due("w1", clock.now, lease, 10)
    assert [w.id for w in taken] == [later.id, orange.id]  # red first, then the longest waiting
    assert taken[0].lease_owner == "w1" and taken[0].lease_until == clock.now + lease
    assert store.claim_due("w2", clock.now + timedelta(seconds=59), lease, 10) == []  # held
    store.release(later.id, "w1", clock.now + timedelta(minutes=5))
    store.release(orange.id, "w2", clock.now)  # w2 holds no lease on it: nothing changes
    assert store.get(orange.id).lease_owner == "w1"
    # w1 died holding red and orange: their leases run out and w2 takes them; `later` is not due yet.
    assert [w.id for w in store.claim_due("w2", clock.now + timedelta(seconds=61), timedelta(minutes=10), 10)] == [red.id, orange.id]
    assert [w.id for w in store.claim_due("w3", clock.now + timedelta(minutes=5), lease, 10)] == [later.id]


def test_release_schedules_the_next_attempt_and_a_closed_warning_stays_unscheduled(store, clock):
    warning, _ = store.add(new(), "cli")
    store.claim_due("w", clock.now, timedelta(seconds=60), 10)
    store.release(warning.id, "w", clock.now + timedelta(minutes=2))
    released = store.get(warning.id)
    assert released.next_attempt_at == clock.now + timedelta(minutes=2) and released.lease_owner is None
    assert store.claim_due("w", clock.now + timedelta(minutes=1), timedelta(seconds=60), 10) == []
    store.claim_due("w", clock.now + timedelta(minutes=2), timedelta(seconds=60), 10)
    store.set_outcome(warning.id, "dissuaded", "call")  # the resident answered during the attempt
    store.release(warning.id, "w", clock.now + timedelta(minutes=7))
    assert store.get(warning.id).next_attempt_at is None
    assert store.claim_due("w", clock.now + timedelta(hours=1), timedelta(seconds=60), 10) == []


def compete_for_claims(first: WarningStore, second: WarningStore, now: datetime) -> None:
    """Six workers on two stores claim 120 due warnings at once: each is won exactly once."""
    first.add_many([new(phone=f"+86139{i:08d}", level=("red", "orange", "yellow")[i % 3]) for i in range(120)], "cli")
    won: dict[str, list[int]] = {}
    barrier = threading.Barrier(6)

    def work(name: str, store: WarningStore) -> None:
        mine = won.setdefault(name, [])
        barrier.wait()
        while batch := store.claim_due(name, now, timedelta(minutes=5), 7):
            mine.extend(warning.id for warning in batch)
            time.sleep(0.002)  # the others' turn: otherwise one thread may take everything

    threads = [threading.Thread(target=work, args=(f"w{i}", (first, second)[i % 2])) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    every = [warning_id for ids in won.values() for warning_id in ids]
    assert len(every) == len(set(every)) == 120
    assert sum(1 for ids in won.values() if ids) > 1  # they really competed
    owners = {warning.id: warning.lease_owner for warning in first.open_warnings()}
    assert all(owners[warning_id] == name for name, ids in won.items() for warning_id in ids)


def test_two_stores_on_one_file_and_many_threads_never_win_the_same_warning(open_store, clock):
    compete_for_claims(open_store(), open_store(), clock.now)


# --- attempts and Twilio's status callbacks -------------------------------------------------------


def test_an_attempt_is_written_before_twilio_and_counted_once_when_placed(store, clock):
    warning, _ = store.add(new(level="red"), "cli")
    call = store.start_attempt(warning.id, "call", "dispatcher:w1")
    desk = store.start_attempt(warning.id, "desk_call", "dispatcher:w1")
    assert (call.kind, call.state, call.twilio_sid) == ("call", "placing", None)
    clock.advance(minutes=3)
    assert [e.id for e in store.unfinished_attempts(clock.now - timedelta(minutes=2))] == [call.id, desk.id]
    store.attempt_placed(call.id, "CA1")
    store.attempt_placed(call.id, "CA1")  # a retry of the same answer counts nothing more
    store.attempt_placed(desk.id, "CA2")
    assert store.get(warning.id).calls_made == 1  # the duty desk's call is not a call to the resident
    assert store.unfinished_attempts(clock.now) == []
    refused = store.start_attempt(warning.id, "call", "dispatcher:w1")
    store.attempt_failed(refused.id, "Twilio 429: too many requests")
    assert store.get(warning.id).calls_made == 1
    assert store.get_event(refused.id).state == "error" and store.get_event(refused.id).detail == "Twilio 429: too many requests"
    with pytest.raises(WarningError, match="kind"):
        store.start_attempt(warning.id, "answer", "dispatcher:w1")
    with pytest.raises(UnknownWarning):
        store.start_attempt(999, "call", "dispatcher:w1")


def test_status_callbacks_by_sid_and_by_event_id_never_go_back(store):
    warning, _ = store.add(new(), "cli")
    call = store.start_attempt(warning.id, "call", "dispatcher:w1")
    # Twilio's first callback can come before calls.create() has returned the sid to the dispatcher.
    early = store.call_status("CA9", "queued", event_id=call.id)
    assert (early.id, early.state, early.twilio_sid) == (call.id, "queued", "CA9")
    assert store.get(warning.id).calls_made == 1
    store.attempt_placed(call.id, "CA9")  # the dispatcher then hears back: still counted once
    assert store.get(warning.id).calls_made == 1 and store.get_event(call.id).state == "queued"
    assert store.call_status("CA9", "in-progress").state == "in-progress"
    assert store.call_status("CA9", "ringing").state == "in-progress"  # late and out of order
    assert store.call_status("CA9", "completed").state == "completed"
    assert store.call_status("CA9", "in-progress").state == "completed"
    assert store.call_status("CA-unknown", "completed") is None
    assert store.call_status("CA-other", "completed", event_id=call.id) is None  # the event is CA9's
    assert store.call_status("", "completed", event_id=12345) is None


def test_a_machine_answer_is_recorded_and_stays(store):
    warning, _ = store.add(new(), "cli")
    call = store.start_attempt(warning.id, "call", "dispatcher:w1")
    store.attempt_placed(call.id, "CA1")
    assert store.call_status("CA1", "in-progress", answered_by="machine_start").state == "machine"
    assert store.call_status("CA1", "completed").state == "machine"
    fax = store.start_attempt(warning.id, "call", "dispatcher:w1")
    assert store.call_status("CA2", "completed", answered_by="fax", event_id=fax.id).state == "machine"
    human = store.start_attempt(warning.id, "call", "dispatcher:w1")
    assert store.call_status("CA3", "in-progress", answered_by="human", event_id=human.id).state == "in-progress"
    with pytest.raises(WarningError, match="status"):
        store.call_status("CA3", "'; drop table warnings; --")


def test_calls_on_day_counts_calls_to_the_number_by_beijing_day(store, clock):
    warning, _ = store.add(new(), "cli")
    other, _ = store.add(new(phone=OTHER), "cli")
    clock.now = datetime(2026, 11, 22, 15, 30, tzinfo=timezone.utc)  # 23:30 on the 22nd in Beijing
    store.attempt_placed(store.start_attempt(warning.id, "call", "d").id, "CA1")
    store.attempt_placed(store.start_attempt(warning.id, "desk_call", "d").id, "CA2")
    store.attempt_failed(store.start_attempt(warning.id, "call", "d").id, "Twilio down")
    clock.now = datetime(2026, 11, 22, 16, 30, tzinfo=timezone.utc)  # same UTC day, but the 23rd in Beijing
    store.attempt_placed(store.start_attempt(warning.id, "call", "d").id, "CA3")
    store.start_attempt(warning.id, "call", "d")  # still placing: most likely ringing, counted
    store.attempt_placed(store.start_attempt(other.id, "call", "d").id, "CA4")
    assert store.calls_on_day(PHONE, date(2026, 11, 22)) == 1
    assert store.calls_on_day(PHONE, date(2026, 11, 23)) == 2
    assert store.calls_on_day(PHONE, date(2026, 11, 24)) == 0
    assert store.calls_on_day(OTHER, date(2026, 11, 23)) == 1


# --- outcomes and the audit trail ----------------------------------------------------------------


def test_set_outcome_closes_the_warning_and_every_setting_is_audited(store, clock):
    warning, _ = store.add(new(level="red"), "cli")
    with pytest.raises(WarningError, match="^outcome: must be one of dissuaded"):
        store.set_outcome(warning.id, "scared", "console:li")
    assert store.get(warning.id).status == "open"
    closed = store.set_outcome(warning.id, "visited", "console:li", note="已上门，密码是abc12345，没有说出去")
    assert (closed.status, closed.outcome, closed.outcome_by, closed.next_attempt_at) == ("closed", "visited", "console:li", None)
    assert not closed.urgent
    clock.advance(minutes=5)
    corrected = store.set_outcome(warning.id, "paid_report_started", "console:wang", reference="fz 20261122 7k3q")
    assert (corrected.outcome, corrected.outcome_by, corrected.reference) == ("paid_report_started", "console:wang", "FZ-20261122-7K3Q")
    outcomes = [(e.state, e.actor, e.detail) for e in store.events(warning.id) if e.kind == "outcome"]
    assert outcomes == [("visited", "console:li", "已上门，密码是〔密码已隐去〕，没有说出去"), ("paid_report_started", "console:wang", None)]
    with pytest.raises(WarningError, match="^reference: "):
        store.set_outcome(warning.id, "dissuaded", "cli", reference="not-a-reference")
    with pytest.raises(UnknownWarning):
        store.set_outcome(999, "dissuaded", "cli")
    assert set(OUTCOMES) >= {"dissuaded", "handed_to_desk", "paid_report_started", "not_scam", "visited", "unreachable",
                             "wrong_number"}


def test_record_checks_the_kind_and_the_warning(store):
    warning, _ = store.add(new(), "cli")
    event = store.record(warning.id, "answer", "money_moving", "call", detail="按了1")
    assert (event.kind, event.state, event.actor, event.detail) == ("answer", "money_moving", "call", "按了1")
    with pytest.raises(WarningError, match="^kind: "):
        store.record(warning.id, "gossip", "x", "call")
    with pytest.raises(WarningError, match="^state: "):
        store.record(warning.id, "answer", "Not A State!", "call")
    with pytest.raises(UnknownWarning):
        store.record(999, "answer", "paid", "call")


# --- settings and the schema -------------------------------------------------------------------


def test_the_merge_window_setting_is_checked():
    assert merge_window_from_env({}) == timedelta(hours=24)
    assert merge_window_from_env({"FANZHA_WARNING_MERGE_HOURS": "1.5"}) == timedelta(hours=1, minutes=30)
    for bad in ("soon", "-1", "100000"):
        with pytest.raises(WarningError, match="FANZHA_WARNING_MERGE_HOURS"):
            merge_window_from_env({"FANZHA_WARNING_MERGE_HOURS": bad})


def test_a_database_of_the_previous_version_gains_the_warning_tables(url, key, tmp_path, clock):
    engine = create_engine(url, future=True)
    assert migrate(engine, MIGRATIONS[:6]) == 6  # the schema before the warnings
    assert "warnings" not in inspect(engine).get_table_names()
    engine.dispose()
    reports = ReportStore(url=url, key_file=tmp_path / "report.key", env={"FANZHA_REPORT_KEY": key}, clock=clock)
    try:
        assert schema_version_of(reports.engine) == len(MIGRATIONS) == 7
        assert {"warnings", "warning_events"} <= set(inspect(reports.engine).get_table_names())
        store = WarningStore(reports)
        warning, _ = store.add(new(), "cli")
        assert store.find_by_phone(PHONE) == [warning]
    finally:
        reports.close()


# --- PostgreSQL (two replicas' dispatchers share one) -----------------------------------------------


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    server = Postgres(user="fanzha", password="pg-" + uuid.uuid4().hex)
    try:
        yield server.create_database("fanzha_warnings")
    finally:
        server.stop()


def test_claims_merges_and_outcomes_on_postgresql(postgres_url, key, tmp_path, clock):
    replicas = [ReportStore(url=postgres_url, key_file=tmp_path / "report.key", env={"FANZHA_REPORT_KEY": key}, clock=clock)
                for _ in range(2)]
    try:
        first, second = (WarningStore(reports) for reports in replicas)
        compete_for_claims(first, second, clock.now)
        add_at_once([first, second])
        [warning] = first.find_by_phone(PHONE)
        call = second.start_attempt(warning.id, "call", "dispatcher:w1")
        assert first.call_status("CA1", "ringing", event_id=call.id).state == "ringing"
        second.attempt_placed(call.id, "CA1")
        assert first.calls_on_day(PHONE, date(2026, 11, 22)) == 1 and first.get(warning.id).calls_made == 1
        closed = second.set_outcome(warning.id, "paid_report_started", "console:li")
        assert closed.status == "closed" and first.events(warning.id)[-1].state == "paid_report_started"
    finally:
        for reports in replicas:
            reports.close()
