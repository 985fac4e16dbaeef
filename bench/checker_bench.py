"""Benchmark the scam checker on the held-out evaluation set (never used for training).

    .venv/bin/python bench/checker_bench.py [--errors]

Reports macro-F1 over scam types, per-type F1, ordinary messages rated high, batch
throughput on one core, per-text latency, and start-up measured as fresh processes:
``python -c`` (import + build Checker + first verdict) and the ``fanzha check`` command,
each the median of three runs, with the classifier cache warm; plus one cold start
(empty cache: the classifier is trained, as after an edit of the examples).
"""
from __future__ import annotations

import os

# One core, as the issue asks: set before numpy and scikit-learn load.
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(var, "1")

import resource  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
FIRST_TEXT = "对方说是客服，让我下载会议软件开启屏幕共享，把钱转到安全账户"
START = f"from knowledge.checker import Checker; Checker().check({FIRST_TEXT!r})"

from bench.dataset import load_dev_set, near_duplicates  # noqa: E402


def f1_table(gold: list[str], predicted: list[str], labels: list[str]) -> dict[str, tuple[float, float, float, int]]:
    table = {}
    for label in labels:
        tp = sum(g == label and p == label for g, p in zip(gold, predicted))
        fp = sum(g != label and p == label for g, p in zip(gold, predicted))
        fn = sum(g == label and p != label for g, p in zip(gold, predicted))
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        table[label] = (precision, recall, f1, tp + fn)
    return table


def fresh_process(command: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one run of ``command`` in a new process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(command, cwd=ROOT, check=True, capture_output=True, env={**os.environ, **(env or {})})
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def startup_figures() -> list[str]:
    python = [sys.executable, "-c", START]
    fanzha = [str(Path(sys.executable).parent / "fanzha"), "check", FIRST_TEXT]
    fresh_process(python)  # make sure the classifier cache is warm
    lines = []
    for name, command in (("python -c (import, build Checker, first verdict)", python),
                          ("fanzha check \"…\"", fanzha)):
        runs = sorted(fresh_process(command) for _ in range(3))
        wall, cpu = runs[1]
        lines.append(f"checker start-up, {name}: {wall:.2f} s wall ({cpu:.2f} s CPU), median of 3, cache warm")
    with tempfile.TemporaryDirectory() as empty:
        wall, cpu = fresh_process(python, {"FANZHA_CHECKER_CACHE": empty})
    lines.append(f"checker start-up with an empty cache (classifier trained): {wall:.2f} s wall ({cpu:.2f} s CPU)")
    return lines


def main() -> int:
    dev = load_dev_set()
    from knowledge.checker import Checker
    from knowledge.loader import load_knowledge

    knowledge = load_knowledge()
    checker = Checker(knowledge)

    training = [e.text for e in knowledge.examples]
    overlap = near_duplicates([d.text for d in dev], training)
    overlap_texts = {t for t, _, _ in overlap}
    dev = [d for d in dev if d.text not in overlap_texts]

    texts = [d.text for d in dev]
    started = time.perf_counter()
    verdicts = checker.check_many(texts)
    batch_seconds = time.perf_counter() - started

    latencies = []
    for text in texts[:300]:
        t0 = time.perf_counter()
        checker.check(text)
        latencies.append((time.perf_counter() - t0) * 1000)
    latencies.sort()

    gold = [d.label for d in dev]
    predicted = [v.scam_type or "ordinary" for v in verdicts]
    types = sorted(knowledge.scam_types)
    table = f1_table(gold, predicted, types)
    macro = statistics.mean(f1 for _, _, f1, _ in table.values())
    ordinary = [v for d, v in zip(dev, verdicts) if d.label == "ordinary"]
    ordinary_high = sum(v.risk == "high" for v in ordinary) / len(ordinary)
    ordinary_flagged = sum(v.scam_type is not None for v in ordinary) / len(ordinary)
    scams = [v for d, v in zip(dev, verdicts) if d.label != "ordinary"]
    scam_missed = sum(v.risk in ("none", "low") for v in scams) / len(scams)

    print(f"evaluation texts: {len(dev)} ({len(scams)} scam, {len(ordinary)} ordinary); "
          f"left out as near-duplicates of training examples: {len(overlap)}")
    print(f"macro-F1 over {len(types)} scam types: {macro:.3f}")
    print(f"ordinary messages rated high: {ordinary_high:.1%}; given a scam type: {ordinary_flagged:.1%}")
    print(f"scam texts rated low or none: {scam_missed:.1%}")
    print("| type | precision | recall | F1 | n |\n|---|---|---|---|---|")
    for label, (p, r, f1, n) in table.items():
        print(f"| {label} | {p:.2f} | {r:.2f} | {f1:.2f} | {n} |")
    for line in startup_figures():
        print(line)
    print(f"batch mode: {len(texts) / batch_seconds:.0f} texts/s on one core")
    print(f"per text: p50 {latencies[len(latencies) // 2]:.1f} ms, p95 {latencies[int(len(latencies) * 0.95)]:.1f} ms")
    if "--errors" in sys.argv:
        for d, v in zip(dev, verdicts):
            if (v.scam_type or "ordinary") != d.label:
                print(f"  {d.label} -> {v.scam_type} ({v.risk}): {d.text[:80]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
