"""Benchmark the risk list: import of a 1,000,000-line CSV, then look-ups of hits and misses.

    .venv/bin/python bench/risklist_bench.py [--lines 1000000] [--lookups 10000] [--database-url URL]

The CSV is generated in a temporary folder (60% phone numbers, 25% links, 15% accounts, in three
sources, written the many ways lists write them: "+86 138-…", "0086…", "https://www.…/",
"hxxp://…[.]top", and 1 link in 10 on a Chinese domain name, which costs most to normalise)
and imported the way ``fanzha risklist import`` does (every line checked, then one transaction).
The look-ups are half hits, written differently from the file (full-width digits, spaces, upper case, a
sub-domain of a listed host), half misses, each timed alone as the action server makes it: one query on the
(kind, hash) index. Default database: a new SQLite file in the temporary folder, with a new key.
"""
from __future__ import annotations

import argparse
import random
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.services.risklist import RiskList  # noqa: E402
from knowledge.loader import default_knowledge  # noqa: E402

SOURCES = ("市反诈中心", "省厅通报", "银行协查")
LEVELS = ("high", "medium", "low")
FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


def phone(i: int) -> str:
    return f"1{3 + i % 7}{i:09d}"


def written_phone(digits: str, i: int) -> str:
    return (f"+86 {digits[:3]}-{digits[3:7]}-{digits[7:]}", f"0086{digits}", digits, f"86 {digits}")[i % 4]


def link(i: int) -> tuple[str, str]:
    """The link as listed, and as a resident might meet it (the same page, or a page on a listed host)."""
    variant = i // 20  # a line number's last digits already chose the kind
    if variant % 10 == 0:  # an international (Chinese) domain name: 1 link in 10
        return f"http://商城{i}.中国", f"https://pay.商城{i}.中国/index"
    if variant % 2:
        return f"https://www.shop{i}.example.com/pay/{i % 97}/", f"HTTP://SHOP{i}.EXAMPLE.COM/pay/{i % 97}"
    return f"hxxp://app{i}[.]top/d.apk", f"http://APP{i}.top/d.apk#download"


def account(i: int) -> str:
    return f"6222{i:015d}"


def write_csv(path: Path, lines: int, scam_types: list[str], rng: random.Random) -> list[tuple[str, str]]:
    """The file, and some (kind, value as a resident would write it) that are on it."""
    samples: list[tuple[str, str]] = []
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write("type,value,level,source,date,scam_type\r\n")
        for i in range(lines):
            source = SOURCES[i % 3]
            day = f"20{24 + i % 2}-{1 + i % 12:02d}-{1 + i % 28:02d}"
            scam = scam_types[i % len(scam_types)] if i % 4 else ""
            r = i % 20
            if r < 12:
                kind, value, found = "phone", written_phone(phone(i), i), " ".join(phone(i)).translate(FULL_WIDTH)
            elif r < 17:
                kind, (value, found) = "link", link(i)
            else:
                kind, value, found = "account", f"{account(i)[:4]} {account(i)[4:]}", account(i)
            out.write(f"{kind},{value},{LEVELS[i % 3]},{source},{day},{scam}\r\n")
            if rng.random() < 0.02:
                samples.append((kind, found))
    return samples


def misses(count: int, rng: random.Random) -> list[tuple[str, str]]:
    kinds = ("phone", "link", "account")
    made = {"phone": lambda: f"19{rng.randrange(10**9):09d}", "link": lambda: f"https://nowhere{rng.randrange(10**9)}.example.org/x",
            "account": lambda: f"9558{rng.randrange(10**15):015d}"}
    return [(kind, made[kind]()) for kind in (rng.choice(kinds) for _ in range(count))]


def percentile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100)[q - 1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--lookups", type=int, default=10_000)
    parser.add_argument("--database-url", help="an empty database to use (default: SQLite in the temporary folder)")
    args = parser.parse_args()
    rng = random.Random(19)
    with tempfile.TemporaryDirectory(prefix="fanzha-risklist-bench-") as folder:
        csv_path, db_path = Path(folder) / "list.csv", Path(folder) / "fanzha.db"
        scam_types = sorted(default_knowledge().scam_types)
        started = time.perf_counter()
        samples = write_csv(csv_path, args.lines, scam_types, rng)
        print(f"generated {args.lines:,} lines ({csv_path.stat().st_size / 2**20:.0f} MiB) in {time.perf_counter() - started:.1f} s")

        url = args.database_url or f"sqlite:///{db_path}"
        with RiskList.open(url=url, key_file=Path(folder) / "report.key", env={}) as risk_list:
            started = time.perf_counter()
            summary = risk_list.import_file(csv_path, scam_types)
            seconds = time.perf_counter() - started
            print(f"import: {sum(summary.imported.values()):,} entries in {seconds:.1f} s "
                  f"({sum(summary.imported.values()) / seconds:,.0f} lines/s)")
            if not args.database_url:
                print(f"database file: {db_path.stat().st_size / 2**20:.0f} MiB")

            hits_wanted = args.lookups // 2
            queries = [(True, kind, value) for kind, value in rng.sample(samples, min(hits_wanted, len(samples)))]
            queries += [(False, kind, value) for kind, value in misses(args.lookups - len(queries), rng)]
            rng.shuffle(queries)
            risk_list.lookup("phone", "13800138000")  # the first query compiles the statement
            times, wrong = [], 0
            for expect_hit, kind, value in queries:
                t0 = time.perf_counter()
                hits = risk_list.lookup(kind, value)
                times.append(time.perf_counter() - t0)
                wrong += bool(hits) != expect_hit
            ms = [t * 1000 for t in times]
            print(f"look-ups: {len(ms):,} ({sum(e for e, _, _ in queries):,} hits, the rest misses), "
                  f"p50 {percentile(ms, 50):.2f} ms, p95 {percentile(ms, 95):.2f} ms, p99 {percentile(ms, 99):.2f} ms, "
                  f"max {max(ms):.2f} ms; wrong answers: {wrong}")
        print(f"peak memory of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
