"""Choose the checker's decision weights on the style hold-out of the TRAINING examples
(knowledge/examples). The evaluation set bench/checker_dev and msglog are never looked at here.

    .venv/bin/python bench/tune_checker.py

Each example is scored by a classifier trained without its style (sms, chat, narrative or
spoken), as a resident's message in a style the examples lack would be; the red flags and
calm signs come from the rules. The grid search scores all weight settings at once with
numpy; the best setting is then re-checked example by example with ``Checker._decide`` so
that the grid and the checker cannot drift apart.
"""
from __future__ import annotations

import itertools
import statistics
import sys
from dataclasses import fields, replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.checker_bench import f1_table  # noqa: E402
from knowledge.checker import Checker, Weights, mixed_log_odds, noisy_or  # noqa: E402
from knowledge.classifier import TypeClassifier  # noqa: E402
from knowledge.loader import EXAMPLE_KINDS, NOT_SCAM, load_knowledge  # noqa: E402
from knowledge.nlp import CALM_HITS, FLAG_HITS  # noqa: E402

GRID = {
    "type_share": [0.0, 0.3, 0.5, 0.7],
    "own_flags": [0.5, 1.0, 2.0, 3.0],
    "shared_flags": [0.25, 0.5, 1.0],
    "flags": [1.0, 2.0, 3.0, 4.0],
    "prior": [-3.0, -2.0, -1.0, 0.0],
    "calm": [3.0, 4.5, 6.0],
    "strong": [0.5, 0.7, 0.9],
    "high": [0.85, 0.9, 0.95],
    "medium": [0.6, 0.7, 0.8, 0.9],
}


def objective(macro: float, ordinary_high: float, ordinary_named: float) -> float:
    """Macro-F1, with steep penalties once more than 1% of ordinary texts are rated high or more
    than 5% medium or high (the product's goals), and a small one for every ordinary text given
    a scam type (ordinary messages must stay calm)."""
    return macro - 2 * max(0.0, ordinary_high - 0.01) - 2 * max(0.0, ordinary_named - 0.05) - 0.1 * ordinary_named


def out_of_style(examples: list) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Label probabilities and scam log-odds for every example from a model without its style."""
    classes = sorted({e.label for e in examples})
    rows: dict[int, tuple[np.ndarray, float]] = {}
    for style in EXAMPLE_KINDS:
        held = [e for e in examples if e.kind == style]
        if not held:
            continue
        model = TypeClassifier([e for e in examples if e.kind != style])
        columns = [classes.index(c) for c in model.classes]  # a label only in this style is missing
        probabilities, odds = model.scores([e.text for e in held])
        for e, row, o in zip(held, probabilities, odds):
            full = np.zeros(len(classes))
            full[columns] = row
            rows[id(e)] = (full, float(o))
    return classes, np.array([rows[id(e)][0] for e in examples]), np.array([rows[id(e)][1] for e in examples])


def macro_f1(gold: list[str], predicted: list[str], types: list[str]) -> float:
    return statistics.mean(f1 for _, _, f1, _ in f1_table(gold, predicted, types).values())


def fast_macro_f1(gold: np.ndarray, predicted: np.ndarray, k: int) -> float:
    """Macro-F1 over labels 0..k-1 (label k is "ordinary"), as f1_table computes it."""
    tp = np.bincount(gold[gold == predicted], minlength=k + 1)[:k]
    support = np.bincount(gold, minlength=k + 1)[:k]
    named = np.bincount(predicted, minlength=k + 1)[:k]
    denominator = support + named
    return float(np.mean(np.where(denominator > 0, 2 * tp / np.maximum(denominator, 1), 0.0)))


def main() -> int:
    knowledge = load_knowledge()
    examples = list(knowledge.examples)
    checker = Checker(knowledge)
    docs = list(checker.nlp.pipe([e.text for e in examples]))
    classes, probabilities, scam_odds = out_of_style(examples)
    types = sorted(knowledge.scam_types)
    gold = ["ordinary" if e.label in NOT_SCAM else e.label for e in examples]
    is_ordinary = np.array([g == "ordinary" for g in gold])
    print(f"{len(examples)} training examples, style hold-out")

    n = len(examples)
    gold_index = np.array([types.index(g) if g in types else len(types) for g in gold])
    type_columns = [classes.index(t) for t in types]
    own, shared = np.zeros((n, len(types))), np.zeros((n, len(types)))
    every, calm, strongest = np.zeros(n), np.zeros(n), np.zeros(n)
    critical, rebutted = np.zeros(n, bool), np.zeros(n, bool)
    for i, doc in enumerate(docs):
        hits, calm_hits = doc.user_data[FLAG_HITS], doc.user_data[CALM_HITS]
        by_type: dict[str, dict[str, float]] = {}
        common: dict[str, float] = {}
        for h in hits:
            (by_type.setdefault(h.scam_type, {}) if h.scam_type else common)[h.flag] = h.weight
        for j, label in enumerate(types):
            typical = knowledge.scam_types[label].shared_flags
            own[i, j] = noisy_or(by_type.get(label, {}).values())
            shared[i, j] = noisy_or(v for f, v in common.items() if f in typical)
        weights = list(common.values()) + [v for d in by_type.values() for v in d.values()]
        every[i] = noisy_or(weights)
        strongest[i] = max(weights, default=0.0)
        calm[i] = noisy_or({h.flag: h.weight for h in calm_hits}.values())
        critical[i] = any(h.severity == "critical" and h.scam_type is None for h in hits)
        rebutted[i] = any(knowledge.calm_signs[h.flag].rebuts for h in calm_hits)

    log_p = np.log(np.maximum(probabilities[:, type_columns], 1e-6))
    not_scam = probabilities[:, [classes.index(label) for label in NOT_SCAM if label in classes]].sum(axis=1)
    names = list(GRID)
    results = []
    for values in itertools.product(*GRID.values()):
        w = dict(zip(names, values))
        if w["medium"] > w["high"]:
            continue
        top = (log_p + w["own_flags"] * own + w["shared_flags"] * shared).argmax(axis=1)
        evidence = mixed_log_odds(scam_odds, not_scam, w["type_share"])
        odds = np.clip(evidence + w["prior"] + w["flags"] * every - w["calm"] * calm, -50, 50)
        p_scam = 1.0 / (1.0 + np.exp(-odds))
        high = (p_scam >= w["high"]) & (strongest >= w["strong"]) | critical & ((p_scam >= w["medium"]) | ~rebutted)
        named = high | (p_scam >= w["medium"])
        macro = fast_macro_f1(gold_index, np.where(named, top, len(types)), len(types))
        ordinary_high = float(high[is_ordinary].mean())
        ordinary_named = float(named[is_ordinary].mean())
        results.append((objective(macro, ordinary_high, ordinary_named), macro, ordinary_high, ordinary_named, w))
    results.sort(key=lambda r: -r[0])
    print("score  macro-F1  ordinary-high  ordinary-named  weights")
    for score, macro, ordinary_high, ordinary_named, w in results[:10]:
        print(f"{score:.3f}  {macro:.3f}     {ordinary_high:5.1%}          {ordinary_named:5.1%}         {w}")

    # Re-check the best setting with the checker's own decision code.
    checker.weights = replace(Weights(), **results[0][4])
    checker.classifier.classes = classes
    predicted = [checker._decide(doc, row, odds, set()).scam_type or "ordinary"
                 for doc, row, odds in zip(docs, probabilities, scam_odds)]
    assert abs(macro_f1(gold, predicted, types) - results[0][1]) < 1e-9, "grid and checker disagree"
    default = {f.name: getattr(Weights(), f.name) for f in fields(Weights) if f.name in GRID}
    for rank, (score, macro, ordinary_high, ordinary_named, w) in enumerate(results, 1):
        if w == default:
            print(f"current defaults rank {rank}: {score:.3f}  {macro:.3f}     {ordinary_high:5.1%}          "
                  f"{ordinary_named:5.1%}         {w}")
            break
    return 0


if __name__ == "__main__":
    sys.exit(main())
