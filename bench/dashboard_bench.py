"""Benchmark the trends dashboard's API with a year of daily counts (goal: p95 ≤ 300 ms).

    .venv/bin/python bench/dashboard_bench.py [--conversations 1000000] [--requests 40]

A year (365 days up to today) of the rows bot/services/trends.py keeps, for ``--conversations`` a year:
every day has every combination of the knowledge's scam types × risks, types × payment
channels, handoff reasons, waits, call-back channels and channel × event (the most rows a day
can have), their counts adding up to one check per conversation, a report per 20, a handoff
per 50, a call-back per 100. Then the console alone (tests/dashboard_server.py) answers a
logged-in supervisor over HTTP: the page's own requests (30 days, 12 weeks) and the largest
(366 days, 53 weeks), and a CSV; each ``--requests`` times. SQLite in a temporary folder.
"""
from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import requests  # noqa: E402
from cryptography.fernet import Fernet  # noqa: E402
from sqlalchemy import insert  # noqa: E402

from bot.services import trends  # noqa: E402
from bot.services.handoff import SUPERVISOR, TicketStore  # noqa: E402
from bot.services.reports.schema import trend_counts_table  # noqa: E402
from bot.services.reports.store import ReportStore  # noqa: E402
from knowledge.loader import default_knowledge  # noqa: E402
from tests.assistant import free_port  # noqa: E402

CHANNELS = ("socketio", "wechat", "rest", "voice")
RISKS = ("high", "medium", "low", "none")
REASONS = ("asked_for_person", "money_moving", "distress", "repeated_fallback", "other")
QUERIES = (
    ("30 days (page default)", {"period": "day", "span": "30"}, "trends"),
    ("12 weeks", {"period": "week", "span": "12"}, "trends"),
    ("366 days", {"period": "day", "span": "366"}, "trends"),
    ("53 weeks", {"period": "week", "span": "53"}, "trends"),
    ("CSV, 366 days", {"period": "day", "span": "366", "chart": "checks_by_type"}, "trends.csv"),
)


def year_of_rows(today, conversations: int) -> list[dict]:
    kb = default_knowledge()
    types = [*kb.scam_types, trends.NO_TYPE]
    payments = [*kb.procedures.payment_channels, trends.UNKNOWN]
    per_day = conversations / 365
    rng = random.Random(21)
    rows = []

    def row(day, metric, key1, key2, events, total=0.0):
        rows.append(dict(day=day, metric=metric, key1=key1, key2=key2, events=max(1, round(events)), total=total))

    for n in range(365):
        day = (today - timedelta(days=n)).isoformat()
        for scam in types:
            for risk in RISKS:
                row(day, trends.CHECK, scam, risk, per_day / len(types) / len(RISKS) * rng.uniform(0.5, 1.5))
            for payment in payments:
                count = per_day / 20 / len(types) / len(payments) * rng.uniform(0.5, 1.5)
                row(day, trends.REPORT, scam, payment, count, total=round(count) * rng.uniform(1000, 90000))
        for reason in REASONS:
            row(day, trends.HANDOFF, reason, "", per_day / 50 / len(REASONS))
        row(day, trends.WAIT, trends.ANSWERED, "", per_day / 60, total=per_day / 60 * 120)
        row(day, trends.WAIT, trends.UNANSWERED, "", per_day / 300, total=per_day / 300 * 300)
        for channel in CHANNELS:
            row(day, trends.CALLBACK, channel, "", per_day / 100 / len(CHANNELS))
            for event in (trends.CHECK, trends.REPORT, trends.HANDOFF, trends.CALLBACK):
                row(day, trends.CHANNEL, channel, event, per_day / len(CHANNELS))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=1_000_000, help="conversations a year")
    parser.add_argument("--requests", type=int, default=40, help="requests of each kind")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="fanzha-dashboard-bench-") as folder:
        env = {
            **os.environ,
            "FANZHA_DATABASE_URL": f"sqlite:///{Path(folder) / 'fanzha.db'}",
            "FANZHA_REPORT_KEY": Fernet.generate_key().decode(),
            "FANZHA_CONSOLE_SECRET": uuid.uuid4().hex * 2,
        }
        store = ReportStore(env["FANZHA_DATABASE_URL"], env=env)
        rows = year_of_rows(store.today(), args.conversations)
        with store.engine.begin() as conn:
            conn.execute(insert(trend_counts_table), rows)
        checks = sum(r["events"] for r in rows if r["metric"] == trends.CHECK)
        password = "bench-password-42"
        TicketStore(store).add_agent("chief.bench", password, [SUPERVISOR])
        store.close()
        print(f"{len(rows):,} daily rows over 365 days, {checks:,} checks (≈ conversations)")
        port = free_port()
        server = subprocess.Popen([sys.executable, "-m", "tests.dashboard_server", str(port)], cwd=ROOT, env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{port}"
        try:
            for _ in range(200):
                try:
                    requests.get(base + "/console/login", timeout=2)
                    break
                except requests.ConnectionError:
                    time.sleep(0.3)
            session = requests.Session()
            session.post(base + "/console/api/login", json={"name": "chief.bench", "password": password},
                         headers={"X-Requested-With": "fanzha-console"}, timeout=10).raise_for_status()
            # The first answer loads the knowledge's names (once per server): not counted.
            session.get(base + "/console/api/trends", timeout=30).raise_for_status()
            print(f"{'request':<24}{'median ms':>10}{'p95 ms':>10}{'max ms':>10}")
            for name, params, route in QUERIES:
                times = []
                for _ in range(args.requests):
                    started = time.perf_counter()
                    session.get(f"{base}/console/api/{route}", params=params, timeout=30).raise_for_status()
                    times.append((time.perf_counter() - started) * 1000)
                times.sort()
                p95 = times[min(len(times) - 1, int(0.95 * len(times)))]
                print(f"{name:<24}{statistics.median(times):>10.0f}{p95:>10.0f}{times[-1]:>10.0f}")
        finally:
            server.terminate()
            server.wait(timeout=20)


if __name__ == "__main__":
    main()
