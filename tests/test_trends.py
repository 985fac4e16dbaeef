"""The trends dashboard's daily counts (bot/services/trends.py, bot/services/trends_report.py).

A generated month of activity, driven through the real counting places (ReportStore.save_report,
request_callback, count_check, TicketStore open/claim/close/expire), adds up to a direct count
of the generated events; the counts survive purge and erase; replicas counting at once on
PostgreSQL lose nothing; "rising" and the CSV's "<5".
"""
from __future__ import annotations

import random
import sqlite3
import threading
from collections import Counter
from datetime import date, datetime, timedelta, timezone

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import func, select

from bot.services import trends
from bot.services.handoff import SUPERVISOR, HandoffError, TicketStore
from bot.services.reports.schema import reports_table, trend_counts_table
from bot.services.reports.store import LOCAL_TZ, ReportStore
from bot.services.trends_report import chart_csv, dashboard

TYPES = ("shuadan", "impersonate_police", "investment", "romance", None)
RISKS = ("high", "medium", "low", "none")
CHANNELS = ("socketio", "wechat", "rest", "voice")
PAYMENTS = ("alipay", "bank_card", "wechat_pay")
START = datetime(2025, 3, 1, 1, 0, tzinfo=timezone.utc)


class Clock:
    def __init__(self, start: datetime = START) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


def open_store(url: str, key: str, clock: Clock) -> ReportStore:
    return ReportStore(url, env={"FANZHA_REPORT_KEY": key}, clock=clock)


def generate_month(store: ReportStore, tickets: TicketStore, clock: Clock, seed: int = 21,
                   start: datetime = START) -> Counter:
    """About 30 days of checks, reports, call-backs and handoffs; returns what a direct count of
    them gives per (day, metric, key1, key2): events, and (…, "total") for sums."""
    rng = random.Random(seed)
    expected: Counter = Counter()
    for n in range(1500):
        clock.now = start + timedelta(minutes=rng.randrange(30 * 24 * 60))
        day = clock.now.astimezone(LOCAL_TZ).date().isoformat()
        channel = rng.choice(CHANNELS)
        sender = f"sender-{n}-13912345678"
        kind = rng.choice(("check", "check", "check", "report", "callback", "handoff"))
        if kind == "check":
            scam, risk = rng.choice(TYPES), rng.choice(RISKS)
            store.count_check(channel=channel, scam_type=scam, risk=risk)
            expected[(day, "check", scam or "none", risk)] += 1
        elif kind == "report":
            scam, payment, yuan = rng.choice(TYPES), rng.choice(PAYMENTS), rng.randrange(1, 50) * 1000
            finished = rng.random() < 0.8
            store.save_report(
                {"amount": f"被骗了{yuan}元", "payment_channel": [payment], "receiving_name": "张三丰",
                 "receiving_account": "6222020200112233445"},
                channel=channel, scam_type=scam, risk="high", sender=sender, status="finished" if finished else "abandoned",
            )
            if not finished:
                continue  # an abandoned form is not a report
            expected[(day, "report", scam or "unknown", payment)] += 1
            expected[(day, "report", scam or "unknown", payment, "total")] += yuan
        elif kind == "callback":
            store.request_callback(sender=sender, channel=channel, reason="想找民警", phone="13912345678")
            expected[(day, "callback", channel, "")] += 1
        else:
            ticket = tickets.open_ticket(sender=sender, channel=channel, reason="asked_for_person")
            expected[(day, "handoff", "asked_for_person", "")] += 1
            wait = rng.randrange(5, 900)
            clock.now += timedelta(seconds=wait)
            ended = clock.now.astimezone(LOCAL_TZ).date().isoformat()
            how = rng.choice(("claim", "close", "expire"))
            if how == "claim":
                assert tickets.claim(ticket.id, "duty.wang")
                clock.now += timedelta(seconds=60)  # closed later by the same agent: no second wait
                assert tickets.close(ticket.id, "duty.wang", "resolved", ("resolved",))
            elif how == "close":
                assert tickets.close(ticket.id, "duty.wang", "resolved", ("resolved",))
            else:
                assert [t.id for t in tickets.expire_unclaimed(timedelta(seconds=1))] == [ticket.id]
            waited = "unanswered" if how == "expire" else "answered"
            expected[(ended, "handoff_wait", waited, "")] += 1
            expected[(ended, "handoff_wait", waited, "", "total")] += wait
        expected[(day, "channel", channel, kind)] += 1
    return expected


def stored_counts(store: ReportStore) -> Counter:
    counted: Counter = Counter()
    with store.engine.connect() as conn:
        for row in conn.execute(select(trend_counts_table)).all():
            counted[(row.day, row.metric, row.key1, row.key2)] += row.events
            if row.total:
                counted[(row.day, row.metric, row.key1, row.key2, "total")] += round(row.total)
    return counted


@pytest.fixture(scope="module")
def month(tmp_path_factory):
    """One generated month (1,500 events, seconds) for the tests that only read it."""
    clock = Clock()
    key = Fernet.generate_key().decode()
    store = open_store(f"sqlite:///{tmp_path_factory.mktemp('month') / 'fanzha.db'}", key, clock)
    tickets = TicketStore(store)
    expected = generate_month(store, tickets, clock)
    yield store, tickets, clock, expected, key
    store.close()


@pytest.fixture()
def month_to_change(month, tmp_path):
    """A copy of the generated month's database, for a test that purges or erases."""
    store, _, clock, expected, key = month
    copy = tmp_path / "fanzha.db"
    with store.engine.connect() as conn, sqlite3.connect(copy) as target:
        conn.connection.driver_connection.backup(target)
    target.close()  # sqlite3's context manager only commits
    own_clock = Clock(clock.now)
    changed = open_store(f"sqlite:///{copy}", key, own_clock)
    yield changed, TicketStore(changed), own_clock, Counter(expected)
    changed.close()


def test_a_month_of_activity_adds_up_to_a_direct_count(month) -> None:
    store, _, _, expected, _ = month
    assert stored_counts(store) == expected
    # And the reports the counts were made from, counted straight from their own table.
    with store.engine.connect() as conn:
        stored_reports = conn.execute(
            select(func.count()).select_from(reports_table).where(reports_table.c.status == "finished")).scalar_one()
    assert stored_reports == sum(v for k, v in expected.items() if k[1] == "report" and len(k) == 4)


def test_the_dashboard_figures_are_the_counts_per_day_and_week(month) -> None:
    store, _, clock, expected, _ = month
    today = (START + timedelta(days=31)).astimezone(LOCAL_TZ).date()
    for period, span in (("day", 40), ("week", 6)):
        data = dashboard(store.engine, today, period, span, {})
        charts = {chart["id"]: chart for chart in data["charts"]}
        by_type = {s["key"]: sum(s["values"]) for s in charts["checks_by_type"]["series"]}
        want: Counter = Counter()
        for key, value in expected.items():
            if key[1] == "check":
                want[key[2]] += value
        assert by_type == dict(want)
        loss = {s["key"]: sum(s["values"]) for s in charts["loss_by_payment"]["series"]}
        want_loss: Counter = Counter()
        for key, value in expected.items():
            if key[1] == "report" and len(key) == 5:
                want_loss[key[3]] += value
        assert loss == pytest.approx(dict(want_loss))
        waits = {s["key"]: s for s in charts["handoff_wait"]["series"]}
        answered = [k for k in expected if k[1] == "handoff_wait" and k[2] == "answered" and len(k) == 4]
        assert sum(waits["answered"]["events"]) == sum(expected[k] for k in answered)


def test_the_counts_survive_purge_and_erase(month_to_change) -> None:
    store, _, clock, expected = month_to_change
    store.erase_conversation("sender-3-13912345678")
    purged = store.purge_older_than(clock.now + timedelta(days=400))
    assert purged.reports + purged.callbacks + purged.tickets > 100
    assert stored_counts(store) == expected


def test_free_text_never_becomes_a_key(tmp_path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'fanzha.db'}", Fernet.generate_key().decode(), Clock())
    store.count_check(channel="13912345678 张三", scam_type="让我转到安全账户 6222020200112233445", risk="high")
    keys = {(row.key1, row.key2) for row in store.engine.connect().execute(select(trend_counts_table)).all()}
    assert keys == {("other", "high"), ("other", "check")}
    store.close()


def test_rising_is_the_type_whose_share_grew_most(tmp_path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'fanzha.db'}", Fernet.generate_key().decode(), Clock())
    today = date(2025, 6, 30)
    # Four weeks before: investment 40%, shuadan 50%, romance 10%; last 7 days: investment 20%,
    # shuadan 50%, romance 30% (most grown), and one untyped check that never ranks.
    plan = {28: {"investment": 4, "shuadan": 5, "romance": 1}, 3: {"investment": 2, "shuadan": 5, "romance": 3}}
    with store.engine.begin() as conn:
        for days_ago, counts in plan.items():
            for scam, n in counts.items():
                for _ in range(n * 10):
                    trends.add(conn, today - timedelta(days=days_ago), trends.CHECK, scam, "high")
        trends.add(conn, today, trends.CHECK, trends.NO_TYPE, "none")
    rising = dashboard(store.engine, today, "week", 5, {"romance": "网络婚恋交友"})["rising"]
    assert [item["key"] for item in rising] == ["romance"]
    assert rising[0]["label"] == "网络婚恋交友" and rising[0]["this_week"] == 30 and rising[0]["before"] == 10
    store.close()


def test_the_csv_writes_small_counts_as_under_five(tmp_path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'fanzha.db'}", Fernet.generate_key().decode(), Clock())
    today = date(2025, 6, 30)
    with store.engine.begin() as conn:
        for _ in range(3):
            trends.add(conn, today, trends.REPORT, "shuadan", "alipay", total=7000)
        for _ in range(6):
            trends.add(conn, today - timedelta(days=1), trends.REPORT, "shuadan", "alipay", total=1000)
    data = dashboard(store.engine, today, "day", 3, {})
    counts = chart_csv(data, "reports_by_type").splitlines()
    assert counts[1:] == [f"{today - timedelta(days=2)},0", f"{today - timedelta(days=1)},6", f"{today},<5"]
    loss = chart_csv(data, "loss_by_type").splitlines()
    assert loss[2:] == [f"{today - timedelta(days=1)},6000.0", f"{today},<5"]  # 21000 yuan of 3 reports: hidden
    store.close()


def test_roles_are_codes_the_program_knows(tmp_path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'fanzha.db'}", Fernet.generate_key().decode(), Clock())
    tickets = TicketStore(store)
    tickets.add_agent("duty.wang", "wang-password-42")
    tickets.add_agent("chief.zhao", "zhao-password-42", [SUPERVISOR])
    assert tickets.roles_of("duty.wang") == frozenset() and tickets.roles_of("chief.zhao") == {SUPERVISOR}
    with pytest.raises(HandoffError, match="unknown role"):
        tickets.set_roles("duty.wang", ["admin"])
    tickets.set_roles("chief.zhao", [])
    assert tickets.roles_of("chief.zhao") == frozenset()
    tickets.set_roles("chief.zhao", [SUPERVISOR])
    tickets.disable_agent("chief.zhao")
    assert tickets.roles_of("chief.zhao") == frozenset()  # a disabled agent has no role
    store.close()


def test_replicas_counting_at_once_on_postgresql_lose_nothing() -> None:
    from tests.shared_stores import Postgres

    postgres = Postgres(user="fanzha", password="pg-trends-test")
    try:
        url = postgres.create_database("trends")
        key = Fernet.generate_key().decode()
        replicas = [open_store(url, key, Clock()) for _ in range(4)]

        def count(store: ReportStore) -> None:
            for i in range(50):
                store.count_check(channel="socketio", scam_type="shuadan", risk=RISKS[i % 2])

        threads = [threading.Thread(target=count, args=(store,)) for store in replicas for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert stored_counts(replicas[0]) == Counter({
            (START.date().isoformat(), "check", "shuadan", "high"): 200,
            (START.date().isoformat(), "check", "shuadan", "medium"): 200,
            (START.date().isoformat(), "channel", "socketio", "check"): 400,
        })
        for store in replicas:
            store.close()
    finally:
        postgres.stop()


def test_keeping_the_settled_days_never_hides_new_counts(tmp_path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'fanzha.db'}", Fernet.generate_key().decode(), Clock())
    today = date(2025, 6, 30)
    with store.engine.begin() as conn:
        trends.add(conn, today - timedelta(days=30), trends.CHECK, "shuadan", "high")
    first = dashboard(store.engine, today, "day", 60, {})
    with store.engine.begin() as conn:  # what happens today and yesterday still arrives
        trends.add(conn, today, trends.CHECK, "shuadan", "high")
        trends.add(conn, today - timedelta(days=1), trends.CHECK, "shuadan", "high")
    second = dashboard(store.engine, today, "day", 60, {})
    events = lambda data: next(c for c in data["charts"] if c["id"] == "checks_by_type")["series"][0]["events"]  # noqa: E731
    assert events(first)[-31:] == [1] + [0] * 30
    assert events(second)[-31:] == [1] + [0] * 28 + [1, 1]
    # a new day reads the settled days again: yesterday's count is now among them
    assert events(dashboard(store.engine, today + timedelta(days=1), "day", 60, {}))[-3:] == [1, 1, 0]
    store.close()
