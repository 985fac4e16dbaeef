"""Choose the checker's decision weights by 5-fold cross-validation on the TRAINING examples
(knowledge/examples). The evaluation set in bench/checker_dev is never looked at here.

    .venv/bin/python bench/tune_checker.py [--alpha 3e-5]

Each example is scored by a classifier trained on the other four folds; the red flags and
calm signs come from the rules. The grid search scores all weight settings at once with
numpy; the best setting is then re-checked example by example with ``Checker._decide`` so
that the grid and the checker cannot drift apart.
"""
from __future__ import annotations

import argparse
import itertools
import random
import statistics
import sys
from dataclasses import fields, replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.checker_bench import f1_table  # noqa: E402
from knowledge.checker import Checker, Weights, noisy_or  # noqa: E402
from knowledge.classifier import TypeClassifier  # noqa: E402
from knowledge.loader import ORDINARY, load_knowledge  # noqa: E402
from knowledge.nlp import CALM_HITS, FLAG_HITS  # noqa: E402

GRID = {
    "own_flags": [0.5, 1.0, 1.5, 2.0],
    "shared_flags": [0.25, 0.5, 1.0],
    "against_ordinary": [1.0, 2.0, 3.0],
    "ordinary_prior": [0.0, 0.5, 1.0],
    "calm": [3.0, 4.5, 6.0],
    "high": [0.85, 0.9],
    "medium": [0.5, 0.6, 0.7, 0.8],
}


def objective(macro: float, ordinary_high: float, ordinary_named: float) -> float:
    """Macro-F1, with a steep penalty once more than 1% of ordinary texts are rated high, and
    a small one for every ordinary text given a scam type (ordinary messages must stay calm:
    3 points fewer false alarms are worth 0.003 of macro-F1)."""
    return macro - 2 * max(0.0, ordinary_high - 0.01) - 0.1 * ordinary_named


def out_of_fold(examples: list, alpha: float, folds: int = 5) -> tuple[list[str], np.ndarray]:
    """Classifier probabilities for every example from a model that did not see it."""
    parts = [examples[i::folds] for i in range(folds)]
    classes: list[str] = []
    rows: dict[int, np.ndarray] = {}
    for i, part in enumerate(parts):
        model = TypeClassifier([e for j, p in enumerate(parts) if j != i for e in p], alpha=alpha)
        classes = classes or model.classes
        assert model.classes == classes, "every fold must see every label"
        for e, row in zip(part, model.predict_proba([e.text for e in part])):
            rows[id(e)] = row
    return classes, np.array([rows[id(e)] for e in examples])


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--alpha", type=float, default=TypeClassifier.DEFAULT_ALPHA)
    args = parser.parse_args()

    knowledge = load_knowledge()
    examples = list(knowledge.examples)
    random.Random(7).shuffle(examples)
    checker = Checker(knowledge)
    docs = list(checker.nlp.pipe([e.text for e in examples]))
    classes, probabilities = out_of_fold(examples, args.alpha)
    types = sorted(knowledge.scam_types)
    gold = [e.label for e in examples]
    is_ordinary = np.array([g == ORDINARY for g in gold])
    print(f"{len(examples)} training examples, classifier alpha {args.alpha:g}")
    plain = [classes[i] for i in probabilities.argmax(axis=1)]
    print(f"classifier alone (argmax): macro-F1 {macro_f1(gold, plain, types):.3f}")

    # Evidence per example, in the classifier's column order.
    n, k = len(examples), len(classes)
    own, shared = np.zeros((n, k)), np.zeros((n, k))
    every, calm = np.zeros(n), np.zeros(n)
    any_flag, critical, rebutted = np.zeros(n, bool), np.zeros(n, bool), np.zeros(n, bool)
    for i, doc in enumerate(docs):
        hits, calm_hits = doc.user_data[FLAG_HITS], doc.user_data[CALM_HITS]
        by_type: dict[str, dict[str, float]] = {}
        common: dict[str, float] = {}
        for h in hits:
            (by_type.setdefault(h.scam_type, {}) if h.scam_type else common)[h.flag] = h.weight
        for j, label in enumerate(classes):
            if label != ORDINARY:
                typical = knowledge.scam_types[label].shared_flags
                own[i, j] = noisy_or(by_type.get(label, {}).values())
                shared[i, j] = noisy_or(v for f, v in common.items() if f in typical)
        every[i] = noisy_or(list(common.values()) + [v for d in by_type.values() for v in d.values()])
        calm[i] = noisy_or({h.flag: h.weight for h in calm_hits}.values())
        any_flag[i] = bool(hits)
        critical[i] = any(h.severity == "critical" and h.scam_type is None for h in hits)
        rebutted[i] = any(knowledge.calm_signs[h.flag].rebuts for h in calm_hits)

    log_p = np.log(np.maximum(probabilities, 1e-6))
    o = classes.index(ORDINARY)
    names = list(GRID)
    results = []
    for values in itertools.product(*GRID.values()):
        w = dict(zip(names, values))
        scores = log_p + w["own_flags"] * own + w["shared_flags"] * shared
        scores[:, o] += w["ordinary_prior"] + w["calm"] * calm - w["against_ordinary"] * every
        scores -= scores.max(axis=1, keepdims=True)
        posterior = np.exp(scores)
        posterior /= posterior.sum(axis=1, keepdims=True)
        p_scam = 1.0 - posterior[:, o]
        posterior[:, o] = -1.0
        top = posterior.argmax(axis=1)
        high = (p_scam >= w["high"]) & any_flag | critical & ((p_scam >= w["medium"]) | ~rebutted)
        named = high | (p_scam >= w["medium"])
        predicted = [classes[t] if named[i] else ORDINARY for i, t in enumerate(top)]
        macro = macro_f1(gold, predicted, types)
        ordinary_high = float(high[is_ordinary].mean())
        ordinary_named = float(named[is_ordinary].mean())
        results.append((objective(macro, ordinary_high, ordinary_named), macro, ordinary_high, ordinary_named, w))
    results.sort(key=lambda r: -r[0])
    print("score  macro-F1  ordinary-high  ordinary-named  weights")
    for score, macro, ordinary_high, ordinary_named, w in results[:10]:
        print(f"{score:.3f}  {macro:.3f}     {ordinary_high:5.1%}          {ordinary_named:5.1%}         {w}")

    # Re-check the best setting with the checker's own decision code.
    best = replace(Weights(), **results[0][4])
    checker.weights = best
    checker.classifier.classes = classes
    predicted = [checker._decide(doc, row, set()).scam_type or ORDINARY for doc, row in zip(docs, probabilities)]
    assert abs(macro_f1(gold, predicted, types) - results[0][1]) < 1e-9, "grid and checker disagree"
    default = {f.name: getattr(Weights(), f.name) for f in fields(Weights) if f.name in GRID}
    for rank, (score, macro, ordinary_high, ordinary_named, w) in enumerate(results, 1):
        if w == default:
            print(f"current defaults rank {rank}: {score:.3f}  {macro:.3f}     {ordinary_high:5.1%}          "
                  f"{ordinary_named:5.1%}         {w}")
            break
    else:
        print(f"current defaults (not on the grid): {default}")
    return 0


def macro_f1(gold: list[str], predicted: list[str], types: list[str]) -> float:
    return statistics.mean(f1 for *_, f1, _ in f1_table(gold, predicted, types).values())


if __name__ == "__main__":
    sys.exit(main())
