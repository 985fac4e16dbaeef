"""Benchmark the scam checker on texts it was not trained on.

    .venv/bin/python bench/checker_bench.py [--errors] [--confusion] [--show-false-alarms] [--msglog PATH] [--no-speed]
                                             [--lookalikes-only] [--dev-only]

--show-false-alarms prints the ordinary and advert examples (knowledge/examples, our own texts)
that the style hold-out rates medium or high, with their red flags, and the dev texts of the
false-alarm sets rated medium or high: where a rule fires on everyday text.
--lookalikes-only prints only the false-alarm sets' figures (look-alikes and everyday chat; quick,
for tuning rules); --dev-only leaves out their test.yml, which is read once, at the end, never to
tune rules or weights.

Measures of accuracy, from the most flattering to the least:
- the evaluation set bench/checker_dev (never trained on, but written in the same hand and
  style as the training examples);
- disguised texts (bench/checker_disguised: scams told without the police's alarm words and
  ordinary texts that share scams' words, by another hand; never trained on);
- messages shown with a resident's words around them (bench/checker_shown: pasted with a
  question, forwarded to the family, read out on the phone; by another hand; never trained on);
- the style hold-out: for each style (sms, chat, narrative, spoken) the classifier is trained
  without that style and tested on it; the four folds are pooled. These are the checker's
  figures: a resident's message is in a style the examples may not have. Its held-out SMS are
  also scored as the independent set of real SMS is (seven categories, masks filled in);
- false alarms on msglog (real chat lines and adverts, never trained on, never copied; read
  from ../shared/data/msglog/messages.jsonl);
- false alarms on hard everyday look-alikes (bench/checker_lookalikes: airline and bank notices,
  police warnings, talk about the news … that share words with scams) and on plain everyday chat
  (bench/checker_everyday_chat: couples, family, stock talk, games …), dev and test apart.
Then speed: batch throughput on one core, per-text latency, and start-up measured as fresh
processes (``python -c``: import + build Checker + first verdict, and ``fanzha check``), each
the median of three runs with the classifier cache warm, plus one cold start.
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
from collections import Counter  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
FIRST_TEXT = "对方说是客服，让我下载会议软件开启屏幕共享，把钱转到安全账户"
START = f"from knowledge.checker import Checker; Checker().check({FIRST_TEXT!r})"

from bench.dataset import (  # noqa: E402
    DISGUISED_DIR,
    FALSE_ALARM_SETS,
    INDEPENDENT_SET_CATEGORIES,
    MSGLOG,
    SHOWN_DIR,
    Labelled,
    fill_masks,
    load_another_hand,
    load_dev_set,
    load_lookalikes,
    load_msglog,
    near_duplicates,
)


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


def accuracy_lines(gold: list[str], verdicts: list, types: list[str], not_scam: tuple[str, ...]) -> tuple[float, list[str]]:
    """Macro-F1 over ``types`` and the false-alarm rates, as printable lines."""
    predicted = [v.scam_type or "ordinary" for v in verdicts]
    gold = ["ordinary" if g in not_scam else g for g in gold]
    table = f1_table(gold, predicted, types)
    macro = statistics.mean(f1 for _, _, f1, _ in table.values())
    calm = [v for g, v in zip(gold, verdicts) if g == "ordinary"]
    scams = [v for g, v in zip(gold, verdicts) if g != "ordinary"]
    lines = [
        f"macro-F1 over {len(types)} scam types: {macro:.3f}",
        f"ordinary texts ({len(calm)}) rated high: {share(calm, 'high')}; medium or high: {share(calm, 'high', 'medium')}; "
        f"given a scam type: {sum(v.scam_type is not None for v in calm) / max(1, len(calm)):.1%}",
        f"scam texts ({len(scams)}) rated low or none: {share(scams, 'low', 'none')}",
        "| type | precision | recall | F1 | n |",
        "|---|---|---|---|---|",
    ]
    lines += [f"| {label} | {p:.2f} | {r:.2f} | {f1:.2f} | {n} |" for label, (p, r, f1, n) in table.items()]
    return macro, lines


def another_hand_lines(checker, title: str, directory: Path, training: list[str], types: list[str]) -> list[str]:
    """Accuracy on a set written by another hand (never trained on), overall and by style."""
    from knowledge.loader import NOT_SCAM

    rows = load_another_hand(directory)
    overlap = near_duplicates([r.text for r in rows], training)
    lines = [f"\n## {title} (bench/{directory.name}): {len(rows)} texts; "
             f"near-duplicates of training examples: {len(overlap)} (must be 0)"]
    found = checker.check_many([r.text for r in rows])
    lines += accuracy_lines([r.label for r in rows], found, types, NOT_SCAM)[1]
    for style in sorted({r.kind for r in rows}):
        index = [i for i, r in enumerate(rows) if r.kind == style]
        macro, style_lines = accuracy_lines([rows[i].label for i in index], [found[i] for i in index], types, NOT_SCAM)
        lines.append(f"- {style} ({len(index)} texts): macro-F1 {macro:.3f}; {style_lines[1]}")
    return lines


def share(verdicts: list, *risks: str) -> str:
    return f"{sum(v.risk in risks for v in verdicts) / max(1, len(verdicts)):.1%}"


def flag_names(verdict) -> str:
    """The red flags a verdict saw, for a printed false alarm."""
    return ", ".join(sorted({h.flag for h in verdict.red_flags})) or "no red flag"


def style_holdout(knowledge, dictionary: tuple[str, ...], show_errors: bool, show_confusion: bool = False,
                  show_false_alarms: bool = False) -> list[str]:
    """Train without one style, test on it, for each style; pooled over the four folds
    (``dictionary``: the checker's own words, ``Checker.dictionary``)."""
    from knowledge.checker import Checker
    from knowledge.classifier import TypeClassifier
    from knowledge.loader import EXAMPLE_KINDS, NOT_SCAM

    types = sorted(knowledge.scam_types)
    gold: list[str] = []
    verdicts: list = []
    lines = []
    conversation: Counter[str] = Counter()
    tested: list = []  # the examples in the order they were scored
    as_masked: list = []  # ordinary and advert texts with a masked number or link …
    as_filled: list = []  # … and the same texts filled in, as the independent set is run
    sms_filled: list = []  # held-out SMS of the independent set's kinds, filled in: (label, verdict)
    for style in EXAMPLE_KINDS:
        held = [e for e in knowledge.examples if e.kind == style]
        tested += held
        rest = [e for e in knowledge.examples if e.kind != style]
        checker = Checker(knowledge, classifier=TypeClassifier(rest, dictionary=dictionary))
        found = checker.check_many([e.text for e in held])
        conversation += follow_up_outcomes(checker, held, found, NOT_SCAM)
        macro, fold_lines = accuracy_lines([e.label for e in held], found, types, NOT_SCAM)
        adverts = [v for e, v in zip(held, found) if e.label == "advert"]
        lines.append(f"- held out {style} ({len(held)} texts): macro-F1 {macro:.3f}; {fold_lines[1]}"
                     + (f"; adverts answered as adverts: {sum(v.advert for v in adverts) / len(adverts):.1%}" if adverts else ""))
        gold += [e.label for e in held]
        verdicts += found
        # Ordinary texts, and the held-out SMS of the independent set's kinds, with their masks
        # filled in: each filled and checked once; a text with nothing masked keeps its verdict.
        counted = [(i, e) for i, e in enumerate(held) if e.label in NOT_SCAM
                   or (style == "sms" and e.label in INDEPENDENT_SET_CATEGORIES)]
        masked = {i: filled for i, e in counted if (filled := fill_masks(e.text)) != e.text}
        refilled = dict(zip(masked, checker.check_many(list(masked.values()))))
        as_masked += [found[i] for i in refilled if held[i].label in NOT_SCAM]
        as_filled += [v for i, v in refilled.items() if held[i].label in NOT_SCAM]
        if style == "sms":
            sms_filled = [(e.label, refilled.get(i, found[i])) for i, e in counted]
        if show_errors:
            for e, v in zip(held, found):
                if (v.scam_type or "ordinary") != ("ordinary" if e.label in NOT_SCAM else e.label):
                    print(f"  [{style}] {e.label} -> {v.scam_type} ({v.risk}): {e.text[:80]}")
        if show_false_alarms:
            for e, v in zip(held, found):
                if e.label in NOT_SCAM and v.risk in ("high", "medium"):
                    text = e.text[:100].replace("\n", " / ")
                    print(f"  false alarm [{style}] {e.label} -> {v.scam_type} ({v.risk}; {flag_names(v)}): {text}")
    _, pooled = accuracy_lines(gold, verdicts, types, NOT_SCAM)
    pooled.insert(1, fixed_set_line(tested, gold, verdicts, types))
    pooled.append(f"ordinary and advert texts with masked numbers or links ({len(as_masked)}): rated high "
                  f"{share(as_masked, 'high')}, filled in {share(as_filled, 'high')}; medium or high "
                  f"{share(as_masked, 'high', 'medium')}, filled in {share(as_filled, 'high', 'medium')}")
    pooled += independent_set_lines(sms_filled, NOT_SCAM)
    calibration = calibration_line([v.scam_probability for v in verdicts], [g not in NOT_SCAM for g in gold])
    runners_up = [(list(v.probabilities)[1:2] or [None])[0] for v in verdicts]
    confusion = (confusion_lines(gold, [v.scam_type or "ordinary" for v in verdicts], NOT_SCAM, runners_up)
                 if show_confusion else [])
    return (["style hold-out, four folds pooled:"] + pooled + [calibration, conversation_line(conversation), "per style:"]
            + lines + confusion)


def fixed_set_line(tested: list, gold: list[str], verdicts: list, types: list[str]) -> str:
    """The hold-out on the first batch of examples only (examples/*.yml), trained on everything
    else: the same test texts every round, so a round that adds examples cannot flatter it by
    adding texts that are easy to score."""
    from knowledge.loader import NOT_SCAM

    first = [i for i, e in enumerate(tested) if e.batch == "batch1"]
    macro, _ = accuracy_lines([gold[i] for i in first], [verdicts[i] for i in first], types, NOT_SCAM)
    by_style = []
    for style in sorted({tested[i].kind for i in first}):
        rows = [i for i in first if tested[i].kind == style]
        by_style.append(f"{style} {accuracy_lines([gold[i] for i in rows], [verdicts[i] for i in rows], types, NOT_SCAM)[0]:.3f}")
    return f"first batch only ({len(first)} texts, the fixed test set): macro-F1 {macro:.3f} ({', '.join(by_style)})"


def independent_set_lines(labelled: list[tuple[str, Any]], not_scam: tuple[str, ...]) -> list[str]:
    """The independent set's figures, as far as the project's own texts can tell: its seven
    categories over the held-out SMS of those kinds, masks filled in, and the ordinary SMS."""
    if not labelled:
        return []
    categories = sorted(set(INDEPENDENT_SET_CATEGORIES.values()))
    gold = ["ordinary" if label in not_scam else INDEPENDENT_SET_CATEGORIES[label] for label, _ in labelled]
    predicted = [INDEPENDENT_SET_CATEGORIES.get(v.scam_type or "", v.scam_type or "ordinary") for _, v in labelled]
    ordinary = [v for g, (_, v) in zip(gold, labelled) if g == "ordinary"]
    scams = len(labelled) - len(ordinary)
    table = f1_table(gold, predicted, categories)
    macro = statistics.mean(f1 for _, _, f1, _ in table.values())
    by_category = ", ".join(f"{c} {f1:.2f}" for c, (_, _, f1, _) in table.items())
    return [f"the independent set's seven categories on the held-out SMS, masks filled in ({scams} scams, "
            f"{len(ordinary)} ordinary and advert): macro-F1 {macro:.3f} ({by_category}); ordinary rated high "
            f"{share(ordinary, 'high')}, medium or high {share(ordinary, 'high', 'medium')}"]


def follow_up_outcomes(checker, held: list, found: list, not_scam: tuple[str, ...]) -> Counter[str]:
    """What the conversation can add: the texts rated low or none that the assistant answers with a
    follow-up question (actions/check.py asks before it gives such a verdict), and for the scams
    among them, the verdict after a "yes" to the first question."""
    out: Counter[str] = Counter()
    for e, v in zip(held, found):
        scam = e.label not in not_scam
        if v.risk not in ("low", "none"):
            continue
        kind = "scam" if scam else "ordinary"
        if not v.follow_up:
            out[f"{kind} calm, not asked"] += 1
            continue
        out[f"{kind} calm, asked"] += 1
        if scam:
            after = checker.check(e.text, [v.follow_up[0].confirms])
            out["scam: yes names the right type"] += after.scam_type == e.label
    return out


def conversation_line(counts: Counter[str]) -> str:
    asked, silent, named = counts["scam calm, asked"], counts["scam calm, not asked"], counts["scam: yes names the right type"]
    calm_scams = max(1, asked + silent)
    return (f"follow-up questions (not part of the figures above): of the {asked + silent} scams rated low or none, "
            f"{asked} ({asked / calm_scams:.0%}) are asked a follow-up question, and for {named} ({named / calm_scams:.0%}) "
            f"a yes to the first one names the right type; {silent} get neither a warning nor a question; "
            f"{counts['ordinary calm, asked']} ordinary texts rated low or none are asked one")


def confusion_lines(gold: list[str], predicted: list[str], not_scam: tuple[str, ...], runners_up: list[str | None],
                    cells: int = 30) -> list[str]:
    """Where the style hold-out goes wrong: scam vs not (ordinary and advert together), scams
    named the wrong type (and how often the right one came second), then the largest gold →
    predicted cells, the places to read the examples for boundary cases."""
    gold = ["ordinary" if g in not_scam else g for g in gold]
    pairs = Counter(zip(gold, predicted))
    square = Counter((g != "ordinary", p != "ordinary") for g, p in zip(gold, predicted))
    wrong = [(g, second) for g, p, second in zip(gold, predicted, runners_up) if "ordinary" not in (g, p) and g != p]
    lines = ["confusion (style hold-out): scam named a scam type "
             f"{square[True, True]} (the wrong type {len(wrong)}, the right one second in "
             f"{sum(g == second for g, second in wrong)}), scam rated calm {square[True, False]}, ordinary or advert named a type "
             f"{square[False, True]}, ordinary or advert calm {square[False, False]}; largest cells gold -> predicted:"]
    lines += [f"  {g} -> {p}: {n}" for (g, p), n in pairs.most_common() if g != p][:cells]
    return lines


def calibration_line(probabilities: list[float], is_scam: list[bool], bins: int = 10) -> str:
    """Expected calibration error of the scam probability: in each tenth of the range, how far
    the mean probability is from the share of texts that are scams, weighted by the texts there."""
    cells: list[list[tuple[float, bool]]] = [[] for _ in range(bins)]
    for p, truth in zip(probabilities, is_scam):
        cells[min(bins - 1, int(p * bins))].append((p, truth))
    error = sum(abs(statistics.mean(p for p, _ in cell) - statistics.mean(t for _, t in cell)) * len(cell)
                for cell in cells if cell) / len(probabilities)
    shares = ", ".join(f"{i / bins:.1f}–{(i + 1) / bins:.1f}: {statistics.mean(t for _, t in cell):.0%} of {len(cell)}"
                       for i, cell in enumerate(cells) if cell)
    return f"scam probability calibration: expected calibration error {error:.3f}; scams by probability band: {shares}"


def msglog_lines(checker, path: Path, training: list[str]) -> list[str]:
    rows = load_msglog(path)
    overlap = near_duplicates([r.text for r in rows], training)
    lines = [f"msglog: {len(rows)} messages from {path}; near-duplicates of training examples: {len(overlap)} (must be 0)"]
    verdicts = checker.check_many([r.text for r in rows])
    for source in ("chat", "advert"):
        found = [(r, v) for r, v in zip(rows, verdicts) if r.label == source]
        only = [v for _, v in found]
        lines.append(f"msglog {source} ({len(found)}): rated high {share(only, 'high')}, medium or high "
                     f"{share(only, 'high', 'medium')}" + (f", answered as adverts {sum(v.advert for v in only) / len(only):.1%}"
                                                            if source == "advert" else ""))
        for r, v in found:
            if v.risk == "high":
                lines.append(f"  high: {r.kind} -> {v.scam_type} ({flag_names(v)})")
    # As the independent set is run: masked digits and links filled in, as real messages have them.
    filled = checker.check_many([fill_masks(r.text) for r in rows])
    for source in ("chat", "advert"):
        only = [v for r, v in zip(rows, filled) if r.label == source]
        lines.append(f"msglog {source} with masked numbers and links filled in: rated high {share(only, 'high')}, "
                     f"medium or high {share(only, 'high', 'medium')}")
        lines += [f"  high when filled in: {r.kind} -> {v.scam_type} ({flag_names(v)})"
                  for r, v, masked in zip(rows, filled, verdicts)
                  if r.label == source and v.risk == "high" and masked.risk != "high"]
    return lines


def false_alarm_lines(checker, training: list[str], splits: tuple[str, ...], show_false_alarms: bool,
                      title: str, directory: Path) -> list[str]:
    """A false-alarm set (``FALSE_ALARM_SETS``: everyday texts that share words with scams, plain
    everyday chat): share rated high and medium or high, per split, overall, by category and by style."""
    found: dict[str, list[tuple[Labelled, Any]]] = {}
    lines = []
    for split in splits:
        rows = load_lookalikes(split, directory)
        overlap = near_duplicates([r.text for r in rows], training)
        found[split] = list(zip(rows, checker.check_many([r.text for r in rows])))
        only = [v for _, v in found[split]]
        lines.append(f"{title} {split} ({len(rows)}; near-duplicates of training examples: {len(overlap)}, must be 0): "
                     f"rated high {share(only, 'high')}, medium or high {share(only, 'high', 'medium')}")
    groups = sorted({r.label for rows in found.values() for r, _ in rows})
    groups += sorted({"style " + r.kind for rows in found.values() for r, _ in rows})
    lines += ["| group | " + " | ".join(f"{s} n | {s} high | {s} medium+" for s in splits) + " |",
              "|---|" + "---|---|---|" * len(splits)]
    for group in groups:
        cells = []
        for split in splits:
            only = [v for r, v in found[split] if group in (r.label, "style " + r.kind)]
            cells.append(f"{len(only)} | {share(only, 'high')} | {share(only, 'high', 'medium')}")
        lines.append(f"| {group} | " + " | ".join(cells) + " |")
    if show_false_alarms and "dev" in found:
        for r, v in found["dev"]:
            if v.risk in ("high", "medium"):
                lines.append(f"  {title} [{r.kind}/{r.label}] -> {v.scam_type} ({v.risk}; {flag_names(v)}): {r.text[:100]}")
    return lines


def main() -> int:
    show_errors = "--errors" in sys.argv
    msglog = Path(sys.argv[sys.argv.index("--msglog") + 1]) if "--msglog" in sys.argv else MSGLOG
    dev = load_dev_set()
    from knowledge.checker import Checker
    from knowledge.loader import NOT_SCAM, load_knowledge

    knowledge = load_knowledge()
    checker = Checker(knowledge)
    types = sorted(knowledge.scam_types)
    training = [e.text for e in knowledge.examples]
    counts = {kind: sum(e.kind == kind for e in knowledge.examples) for kind in sorted({e.kind for e in knowledge.examples})}
    print(f"training examples: {len(training)} ({', '.join(f'{k} {n}' for k, n in counts.items())})")
    splits = ("dev",) if "--dev-only" in sys.argv else ("dev", "test")
    for title, directory in FALSE_ALARM_SETS:
        print(f"\n## {title} (bench/{directory.name})")
        for line in false_alarm_lines(checker, training, splits, "--show-false-alarms" in sys.argv, title, directory):
            print(line)
    if "--lookalikes-only" in sys.argv:
        return 0

    overlap = near_duplicates([d.text for d in dev], training)
    overlap_texts = {t for t, _, _ in overlap}
    dev = [d for d in dev if d.text not in overlap_texts]
    texts = [d.text for d in dev]
    started = time.perf_counter()
    verdicts = checker.check_many(texts)
    batch_seconds = time.perf_counter() - started
    print(f"\n## evaluation set in the training style: {len(dev)} texts; "
          f"left out as near-duplicates of training examples: {len(overlap)}")
    for line in accuracy_lines([d.label for d in dev], verdicts, types, NOT_SCAM)[1]:
        print(line)
    if show_errors:
        for d, v in zip(dev, verdicts):
            if (v.scam_type or "ordinary") != d.label:
                print(f"  {d.label} -> {v.scam_type} ({v.risk}): {d.text[:80]}")

    for title, directory in (("disguised texts, another hand", DISGUISED_DIR),
                             ("messages shown with a resident's words, another hand", SHOWN_DIR)):
        for line in another_hand_lines(checker, title, directory, training, types):
            print(line)

    print("\n## the checker's figures")
    for line in style_holdout(knowledge, checker.dictionary, show_errors, "--confusion" in sys.argv, "--show-false-alarms" in sys.argv):
        print(line)
    if msglog.exists():
        for line in msglog_lines(checker, msglog, training):
            print(line)
    else:
        print(f"msglog not found at {msglog}: pass --msglog PATH")

    if "--no-speed" in sys.argv:
        return 0
    latencies = []
    for text in texts[:300]:
        t0 = time.perf_counter()
        checker.check(text)
        latencies.append((time.perf_counter() - t0) * 1000)
    latencies.sort()
    print("\n## speed")
    for line in startup_figures():
        print(line)
    print(f"batch mode: {len(texts) / batch_seconds:.0f} texts/s on one core")
    print(f"per text: p50 {latencies[len(latencies) // 2]:.1f} ms, p95 {latencies[int(len(latencies) * 0.95)]:.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
