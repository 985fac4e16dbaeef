"""The statistical part of the checker: character n-grams and a linear model.

Trained at start-up from ``examples/*.yml`` (under a second), so that what a reviewer adds
to those files is what the checker learns; nothing is pickled. The model family and its
settings were chosen by cross-validation on the training examples (bench/tune_checker.py).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import SGDClassifier

from .loader import Example


class TypeClassifier:
    """Predicts a probability for each scam type code and for ``ordinary``."""

    DEFAULT_ALPHA = 3e-5  # L2 strength, chosen by cross-validation (bench/tune_checker.py)

    def __init__(self, examples: Sequence[Example], alpha: float = DEFAULT_ALPHA) -> None:
        if not examples:
            raise ValueError("the classifier needs labelled examples")
        # Characters carry most of the signal in Chinese: 1-3 grams catch 刷单, 安全账户, 解冻费.
        self.vectorizer = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True)
        features = self.vectorizer.fit_transform([e.text for e in examples])
        # Logistic loss gives probabilities; a fixed seed keeps the checker reproducible.
        self.model = SGDClassifier(loss="log_loss", alpha=alpha, max_iter=50, tol=None, random_state=0)
        self.model.fit(features, [e.label for e in examples])
        self.classes: list[str] = list(self.model.classes_)

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        return self.model.predict_proba(self.vectorizer.transform(texts))
