"""Benchmark the link and number checks on the project's labelled sets (bench/lookup_dev/).

    .venv/bin/python bench/lookup_bench.py [--rounds 5]

For each item, "said + value" goes through ``find_indicators`` (what a resident's message
does); the item counts as flagged when a link (links.yml) or phone number (numbers.yml)
found over the value has a suspicious finding. Reported: the share of suspicious items
flagged (goal ≥ 95%) and of harmless items flagged (goal ≤ 2%), overall and per category,
the items the checks got wrong, and the time per ``find_indicators`` call (p50, p95, over
every item, ``--rounds`` times, after one warm-up round). Risk-list look-ups are not part of
it: bench/risklist_bench.py measures those.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from knowledge.indicators import find_indicators  # noqa: E402

SETS = Path(__file__).resolve().parent / "lookup_dev"
SUSPICIOUS_GOAL = 0.95  # share of suspicious items flagged, at least
HARMLESS_GOAL = 0.02  # share of harmless items flagged, at most


@dataclass(frozen=True)
class Item:
    value: str
    label: str  # suspicious | harmless
    category: str
    why: str
    said: str = ""

    @property
    def text(self) -> str:
        return f"{self.said} {self.value}" if self.said else self.value


@dataclass
class Score:
    kind: str
    total: Counter = field(default_factory=Counter)  # label -> items
    flagged: Counter = field(default_factory=Counter)  # label -> items flagged
    by_category: dict[tuple[str, str], list[int]] = field(default_factory=dict)  # (label, category) -> [flagged, items]
    wrong: list[tuple[Item, str]] = field(default_factory=list)  # item, what was found

    def share(self, label: str) -> float:
        return self.flagged[label] / self.total[label] if self.total[label] else 0.0


def load_items(path: Path) -> tuple[str, list[Item]]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    kind = data["kind"]
    items = [Item(**entry) for entry in data["items"]]
    bad = [i.value for i in items if i.label not in ("suspicious", "harmless")]
    if bad:
        raise ValueError(f"{path}: label must be suspicious or harmless: {bad[:3]}")
    return kind, items


def judge(item: Item, kind: str) -> tuple[bool, str]:
    """(flagged, what was found) for one item."""
    start = len(item.text) - len(item.value)
    over_value = [i for i in find_indicators(item.text) if i.kind == kind and i.start < len(item.text) and i.end > start]
    found = "; ".join(f"{i.text} → {','.join(f.code for f in i.findings) or '-'}" for i in over_value) or "not recognised"
    return any(i.suspicious for i in over_value), found


def evaluate(path: Path) -> Score:
    kind, items = load_items(path)
    score = Score(kind)
    for item in items:
        flagged, found = judge(item, kind)
        score.total[item.label] += 1
        cell = score.by_category.setdefault((item.label, item.category), [0, 0])
        cell[1] += 1
        if flagged:
            score.flagged[item.label] += 1
            cell[0] += 1
        if flagged != (item.label == "suspicious"):
            score.wrong.append((item, found))
    return score


def call_times(texts: list[str], rounds: int) -> list[float]:
    for text in texts:  # warm-up: rules loaded, patterns compiled
        find_indicators(text)
    times = []
    for _ in range(rounds):
        for text in texts:
            started = time.perf_counter()
            find_indicators(text)
            times.append(time.perf_counter() - started)
    return times


def report(score: Score) -> None:
    print(f"\n{score.kind}s: {score.total['suspicious']} suspicious, {score.total['harmless']} harmless")
    print(f"  suspicious flagged: {score.flagged['suspicious']}/{score.total['suspicious']} = "
          f"{score.share('suspicious'):.1%} (goal ≥ {SUSPICIOUS_GOAL:.0%})")
    print(f"  harmless flagged:   {score.flagged['harmless']}/{score.total['harmless']} = "
          f"{score.share('harmless'):.1%} (goal ≤ {HARMLESS_GOAL:.0%})")
    for (label, category), (flagged, items) in sorted(score.by_category.items()):
        print(f"    {label:<10} {category:<18} flagged {flagged:>3}/{items:<3} {flagged / items:6.1%}")
    for item, found in score.wrong:
        said = f"[{item.said}] " if item.said else ""
        print(f"  wrong ({item.label}): {said}{item.value}  — {found}  ({item.why})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    texts: list[str] = []
    met = True
    for path in sorted(SETS.glob("*.yml")):
        score = evaluate(path)
        report(score)
        met &= score.share("suspicious") >= SUSPICIOUS_GOAL and score.share("harmless") <= HARMLESS_GOAL
        texts += [item.text for item in load_items(path)[1]]
    times = call_times(texts, args.rounds)
    p50, p95 = (statistics.quantiles(times, n=100)[q - 1] * 1000 for q in (50, 95))
    print(f"\nfind_indicators: {len(times)} calls, p50 {p50:.3f} ms, p95 {p95:.3f} ms, max {max(times) * 1000:.2f} ms")
    print("goals met" if met else "GOALS NOT MET")
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
