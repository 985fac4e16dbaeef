"""Benchmark the report store: reports written and read per second, SQLite with encryption.

    .venv/bin/python bench/storage_bench.py [--reports 1000]

Each write is what the report form does at the end: mask the answers, encrypt them, insert
under a new reference number and commit (SQLite WAL, default synchronous=FULL, so every
commit reaches the disk), then read the stored report back. Each read fetches one report by
reference number and decrypts it. A fresh database in a temporary folder is used and removed.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.services.reports.store import ReportStore  # noqa: E402


def sample_answers(i: int) -> dict[str, str]:
    return {
        "happened_at": "昨天晚上8点左右",
        "amount": f"{i % 90 + 1}千5",
        "payment_channel": ("bank_card", "alipay", "wechat_pay")[i % 3],
        "receiving_account": f"62220212345{i:08d}",
        "receiving_name": "王小明",
        "receiving_bank": "某某银行某某支行",
        "scammer_contact": f"电话138{i:08d}，微信号wx_scam{i}",
        "platform": "某某任务APP",
        "story": "网上看到兼职刷单广告，加了对方QQ，进了任务群，先返了几块钱佣金，"
        "后来让我下载APP做进阶任务，垫付了几次，说我连单了要继续充值才能提现，验证码是482913。",
    }


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="fanzha-bench-") as folder:
        env: dict[str, str] = {}  # a new key file in the temporary folder, never the project's key
        store = ReportStore(url=f"sqlite:///{folder}/fanzha.db", key_file=Path(folder) / "report.key", env=env)
        write_times, references = [], []
        started = time.perf_counter()
        for i in range(args.reports):
            t0 = time.perf_counter()
            references.append(store.save_report(sample_answers(i), channel="rest", scam_type="shuadan", risk="high", sender=f"user-{i}").reference)
            write_times.append(time.perf_counter() - t0)
        write_total = time.perf_counter() - started

        read_times = []
        started = time.perf_counter()
        for reference in references:
            t0 = time.perf_counter()
            store.get_report(reference)
            read_times.append(time.perf_counter() - t0)
        read_total = time.perf_counter() - started

        started = time.perf_counter()
        exported = len(store.reports_since(date(2000, 1, 1)))
        export_total = time.perf_counter() - started
        size = sum(p.stat().st_size for p in Path(folder).glob("fanzha.db*"))
        store.close()

    print(f"reports: {args.reports}, SQLite WAL with Fernet encryption, one process (cores: {os.cpu_count()})")
    print(
        f"write: {args.reports / write_total:.0f} reports/s "
        f"(p50 {percentile(write_times, 50) * 1000:.1f} ms, p95 {percentile(write_times, 95) * 1000:.1f} ms)"
    )
    print(
        f"read by reference: {args.reports / read_total:.0f} reports/s "
        f"(p50 {percentile(read_times, 50) * 1000:.2f} ms, p95 {percentile(read_times, 95) * 1000:.2f} ms)"
    )
    print(f"read all for export: {exported / export_total:.0f} reports/s; database on disk {size / 1024:.0f} KiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
