"""Benchmark the warning dispatcher: 1,000 warnings imported from a CSV and called by two dispatcher
processes against the local fake Twilio API (tests/fake_twilio.py, run as its own process).

    .venv/bin/python bench/warnings_bench.py [--warnings 1000] [--latency 0.25] [--kill-after 300]

Run 1: `fanzha warnings import`, then two `fanzha warnings dispatch` processes on one SQLite file:
the time until every warning has its first call placed (from starting the processes, and from the
first call), and the calls per number as the fake API saw them (none twice).
Run 2: the same on a new database, and one dispatcher is killed (SIGKILL) once ``--kill-after`` calls
are placed: the survivor takes its warnings when their lease runs out (60 s) and settles its
unfinished attempts from Twilio's list of calls (after 2 minutes), so this run takes about 3 minutes.
Nothing may be lost and no number called twice.

Each create request of the fake API takes ``--latency`` seconds (Twilio's own answers take about a
quarter of a second); 10% of the warnings are red (the duty desk is dialled for each), 30% orange,
60% yellow. Quiet hours are off (the run may be at night), retries after 30 min (first calls only).
"""
from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cryptography.fernet import Fernet  # noqa: E402

from bot.services.early_warnings.store import WarningStore  # noqa: E402
from bot.services.reports.store import LOCAL_TZ, ReportStore  # noqa: E402
from knowledge.loader import default_knowledge  # noqa: E402
from tests.fake_twilio import FROM, SID, TOKEN  # noqa: E402

DESK = "+8657112345678"
PYTHON = sys.executable


def write_csv(path: Path, count: int, rng: random.Random) -> list[str]:
    scam_types = list(default_knowledge().scam_types)
    received = (datetime.now(timezone.utc) - timedelta(minutes=5)).astimezone(LOCAL_TZ)
    numbers = [f"139{n:08d}" for n in rng.sample(range(10**8), count)]
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write("phone,level,scam_type,note,source,time\n")
        for i, number in enumerate(numbers):
            level = "红" if i % 10 == 0 else "orange" if i % 10 < 4 else "yellow"
            out.write(f"{number[:3]} {number[3:7]} {number[7:]},{level},{rng.choice(scam_types)},"
                      f"资金预警 {i},市反诈中心,{received:%Y-%m-%d %H:%M}\n")
    return ["+86" + number for number in numbers]


class Run:
    """One database, the fake Twilio API and the dispatchers of one run."""

    def __init__(self, folder: Path, latency: float) -> None:
        folder.mkdir()
        self.folder = folder
        self.log = folder / "twilio.jsonl"
        self.log.touch()
        key = Fernet.generate_key().decode()
        self.env = {
            **os.environ,
            "FANZHA_DATABASE_URL": f"sqlite:///{folder}/fanzha.db",
            "FANZHA_REPORT_KEY": key,
            "FANZHA_TWILIO_ACCOUNT_SID": SID,
            "FANZHA_TWILIO_AUTH_TOKEN": TOKEN,
            "FANZHA_TWILIO_FROM": FROM,
            "FANZHA_PUBLIC_URL": "https://fanzha.example.org",
            "FANZHA_DUTY_NUMBER": DESK,
            "FANZHA_WARNING_QUIET_HOURS": "off",
            "FANZHA_WARNING_RETRY_MINUTES": "30",
            "NO_PROXY": "127.0.0.1,localhost",
            "TF_CPP_MIN_LOG_LEVEL": "3",
        }
        self.reports = ReportStore(self.env["FANZHA_DATABASE_URL"], env=self.env)  # a new database with that key
        self.store = WarningStore(self.reports)
        self.twilio = subprocess.Popen([PYTHON, "-m", "tests.fake_twilio", "--log", str(self.log), "--latency", str(latency)],
                                       cwd=ROOT, stdout=subprocess.PIPE, text=True)
        self.env["FANZHA_TWILIO_API_BASE"] = self.twilio.stdout.readline().split()[-1]  # type: ignore[union-attr]
        self.dispatchers: dict[str, subprocess.Popen] = {}

    def fanzha(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([PYTHON, "-m", "bot.cli.main", *args], cwd=ROOT, env=self.env, capture_output=True, text=True)

    def start_dispatchers(self, *workers: str) -> None:
        for worker in workers:
            self.dispatchers[worker] = subprocess.Popen(
                [PYTHON, "-m", "bot.cli.main", "warnings", "dispatch", "--worker", worker], cwd=ROOT, env=self.env,
                stdout=subprocess.DEVNULL, stderr=(self.folder / f"{worker}.log").open("w"),
            )

    def calls(self) -> list[dict]:
        with self.log.open(encoding="utf-8") as log:
            return [record for record in map(json.loads, log) if record["kind"] == "call"]

    def residents_called(self) -> int:
        return len({call["to"] for call in self.calls() if call["to"] != DESK})

    def placing(self) -> list:
        return [e for w in self.store.warnings_between() for e in self.store.events(w.id) if e.state == "placing"]

    def close(self) -> None:
        for process in [*self.dispatchers.values(), self.twilio]:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in [*self.dispatchers.values(), self.twilio]:
            process.wait(timeout=60)
        self.reports.close()


def check(run: Run, numbers: list[str]) -> tuple[bool, str]:
    """(all well, the figures): each resident called once, every warning's first call recorded."""
    per_number = Counter(call["to"] for call in run.calls())
    desk_calls = per_number.pop(DESK, 0)
    twice = sum(1 for n in per_number.values() if n > 1)
    missing = len(set(numbers) - set(per_number))
    warnings = run.store.warnings_between()
    red = sum(1 for w in warnings if w.level == "red")
    not_counted = sum(1 for w in warnings if w.calls_made != 1)
    placing = len(run.placing())
    ok = not twice and not missing and not not_counted and not placing and len(warnings) == len(numbers)
    return ok, (f"{len(per_number):,} residents called, {twice} of them twice, {missing} never; "
                f"{len(warnings) - not_counted:,} of {len(warnings):,} warnings show one call; {placing} attempts unsettled; "
                f"duty desk dialled {desk_calls} times for {red} red warnings")


def wait_for(condition, timeout: float, every: float = 0.1) -> float | None:  # noqa: ANN001
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if condition():
            return time.monotonic() - started
        time.sleep(every)
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warnings", type=int, default=1000)
    parser.add_argument("--latency", type=float, default=0.25, help="seconds each create request takes at the fake API")
    parser.add_argument("--kill-after", type=int, default=300, help="calls placed before one dispatcher is killed")
    args = parser.parse_args()
    rng = random.Random(20)
    ok = True
    with tempfile.TemporaryDirectory(prefix="fanzha-warnings-bench-") as tmp:
        csv_path = Path(tmp) / "warnings.csv"
        numbers = write_csv(csv_path, args.warnings, rng)
        print(f"{args.warnings:,} warnings, fake Twilio API answering each create in {args.latency:.2f} s, "
              "2 dispatcher processes of 8 threads each")

        run = Run(Path(tmp) / "run1", args.latency)
        try:
            started = time.monotonic()
            imported = run.fanzha("warnings", "import", str(csv_path))
            print(f"import: {imported.stdout.strip()} in {time.monotonic() - started:.1f} s (exit {imported.returncode})")
            started = time.monotonic()
            run.start_dispatchers("b1", "b2")
            first = wait_for(lambda: run.calls(), 120)
            done = wait_for(lambda: run.residents_called() >= len(numbers), 300)
            if done is None or first is None:
                print("run 1: not every warning got its first call within 300 s")
                ok = False
            else:
                elapsed = time.monotonic() - started
                print(f"run 1: every warning's first call placed {elapsed:.1f} s after starting the dispatchers "
                      f"({elapsed - first:.1f} s after the first call; start-up {first:.1f} s)")
            time.sleep(1)
            good, figures = check(run, numbers)
            ok = ok and good
            print(f"run 1: {figures}")
        finally:
            run.close()

        run = Run(Path(tmp) / "run2", args.latency)
        try:
            run.fanzha("warnings", "import", str(csv_path))
            started = time.monotonic()
            run.start_dispatchers("k1", "k2")
            wait_for(lambda: len(run.calls()) >= args.kill_after, 120)
            run.dispatchers["k1"].send_signal(signal.SIGKILL)
            run.dispatchers["k1"].wait()
            killed_at = time.monotonic() - started
            time.sleep(args.latency)  # what k1 had in flight reaches the fake API
            in_flight = run.placing()
            leased = sum(1 for w in run.store.warnings_between() if w.lease_owner == "k1")
            print(f"run 2: k1 killed {killed_at:.1f} s in, after {len(run.calls())} calls; it left {len(in_flight)} "
                  f"attempts 'placing' and {leased} warnings leased")
            done = wait_for(lambda: run.residents_called() >= len(numbers) and not run.placing(), 420, every=2)
            if done is None:
                print("run 2: not settled within 420 s")
                ok = False
            else:
                print(f"run 2: everything settled {time.monotonic() - started:.0f} s after the start")
            settled = {e.id: e for w in run.store.warnings_between() for e in run.store.events(w.id)}
            adopted = sum(1 for e in in_flight if settled[e.id].state != "error")
            print(f"run 2: of k1's unfinished attempts {adopted} adopted from Twilio's list, "
                  f"{len(in_flight) - adopted} placed again by k2")
            good, figures = check(run, numbers)
            ok = ok and good
            print(f"run 2: {figures}")
        finally:
            run.close()
    print("OK" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
