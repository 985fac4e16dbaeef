"""Choose the checker's decision weights by 5-fold cross-validation on the TRAINING examples
(knowledge/examples). The evaluation set in bench/checker_dev is never looked at here.

    .venv/bin/python bench/tune_checker.py
"""
from __future__ import annotations

import itertools
import random
import statistics
import sys
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.checker_bench import f1_table  # noqa: E402
from knowledge.checker import Checker, Weights  # noqa: E402
from knowledge.classifier import TypeClassifier  # noqa: E402
from knowledge.loader import load_knowledge  # noqa: E402


def main() -> int:
    knowledge = load_knowledge()
    examples = list(knowledge.examples)
    random.Random(7).shuffle(examples)
    folds = [examples[i::5] for i in range(5)]
    checker = Checker(knowledge)
    docs = list(checker.nlp.pipe([e.text for e in examples]))
    doc_of = {id(e): d for e, d in zip(examples, docs)}

    rows = {}  # example id -> (classes, probabilities) from the model that did not see it
    for i, fold in enumerate(folds):
        train = [e for j, f in enumerate(folds) if j != i for e in f]
        model = TypeClassifier(train)
        for e, row in zip(fold, model.predict_proba([e.text for e in fold])):
            rows[id(e)] = (model.classes, row)

    types = sorted(knowledge.scam_types)
    results = []
    grid = itertools.product([1.5, 3.0, 4.5], [0.5, 1.0, 2.0], [1.5, 3.0, 4.5], [0.8, 0.85, 0.9], [0.5, 0.6])
    for own, shared, against, high, medium in grid:
        checker.weights = replace(Weights(), own_flags=own, shared_flags=shared, against_ordinary=against,
                                  high=high, medium=medium)
        gold, predicted, ordinary_high = [], [], 0
        for e in examples:
            classes, row = rows[id(e)]
            checker.classifier.classes = classes
            verdict = checker._decide(doc_of[id(e)], row, set())
            gold.append(e.label)
            predicted.append(verdict.scam_type or "ordinary")
            ordinary_high += e.label == "ordinary" and verdict.risk == "high"
        macro = statistics.mean(f1 for *_, f1, _ in f1_table(gold, predicted, types).values())
        share = ordinary_high / sum(e.label == "ordinary" for e in examples)
        results.append((macro - 2 * max(0.0, share - 0.01), macro, share, (own, shared, against, high, medium)))
    results.sort(reverse=True)
    print("score  macro-F1  ordinary-high  (own, shared, against_ordinary, high, medium)")
    for score, macro, share, weights in results[:8]:
        print(f"{score:.3f}  {macro:.3f}     {share:.1%}         {weights}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
