"""The statistical part of the checker: character n-gram TF-IDF and a linear model.

Trained from ``examples/*.yml``, so that what a reviewer adds to those files is what the
checker learns. Training (scikit-learn's SGDClassifier) takes a few seconds, so the fitted
numbers (vocabulary, idf weights, coefficients) are kept in an on-disk cache under ``data/``
whose key is a hash of the examples and of every setting below: any change to the examples,
the settings, scikit-learn or numpy makes a new file. The cache holds plain arrays read with
``allow_pickle=False``; a missing, unreadable or inconsistent file is simply retrained, and a
read-only disk only costs the training time. With a warm cache, scikit-learn is not even
imported: the features are computed here with numpy and scipy. The model family and its
settings were chosen by cross-validation on the training examples (bench/tune_checker.py).
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import re
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from scipy import sparse

from .loader import KNOWLEDGE_DIR, Example

# FANZHA_CHECKER_CACHE points the cache elsewhere (for example a fresh folder, to time a cold start).
CACHE_DIR = Path(os.environ.get("FANZHA_CHECKER_CACHE") or KNOWLEDGE_DIR.parent / "data" / "checker_cache")
_CACHE_FORMAT = 2  # bump when the cached arrays change meaning
_CACHE_KEEP = 4  # newest files kept: other example sets in use (tests, a second checkout) do not evict each other


class CharNgrams:
    """Character n-gram TF-IDF features: lower-cased text, runs of whitespace folded to one
    space, 1–3-grams, sublinear term frequency (1 + ln tf), smoothed idf
    (ln((1 + n) / (1 + df)) + 1), rows scaled to unit length. This is what scikit-learn's
    ``TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True)`` computes
    (tests/test_checker.py compares the two), without importing scikit-learn at start-up.
    """

    NGRAMS = (1, 3)
    _WHITESPACE = re.compile(r"\s\s+")

    def __init__(self, vocabulary: dict[str, int], idf: np.ndarray) -> None:
        self.vocabulary = vocabulary
        self.idf = idf

    @classmethod
    def fit(cls, texts: Sequence[str]) -> tuple["CharNgrams", sparse.csr_matrix]:
        """Learn the vocabulary (sorted, as scikit-learn orders it) and the idf weights."""
        counts = [Counter(cls.ngrams(t)) for t in texts]
        df: Counter[str] = Counter()
        for doc in counts:
            df.update(doc.keys())
        terms = sorted(df)
        idf = np.log((1 + len(texts)) / (1 + np.array([df[t] for t in terms], dtype=float))) + 1
        features = cls({t: i for i, t in enumerate(terms)}, idf)
        return features, features._matrix(counts)

    @classmethod
    def ngrams(cls, text: str) -> list[str]:
        text = cls._WHITESPACE.sub(" ", text.lower())
        low, high = cls.NGRAMS
        return [text[i : i + n] for n in range(low, min(high, len(text)) + 1) for i in range(len(text) - n + 1)]

    def transform(self, texts: Sequence[str]) -> sparse.csr_matrix:
        return self._matrix([Counter(self.ngrams(t)) for t in texts])

    def _matrix(self, counts: list[Counter[str]]) -> sparse.csr_matrix:
        vocabulary = self.vocabulary
        indptr, columns, tf = [0], [], []
        for doc in counts:
            found = sorted((vocabulary[g], c) for g, c in doc.items() if g in vocabulary)
            columns.extend(column for column, _ in found)
            tf.extend(1.0 + math.log(c) for _, c in found)
            indptr.append(len(columns))
        columns_array = np.array(columns, dtype=np.int32)
        values = np.array(tf) * self.idf[columns_array]
        rows = np.repeat(np.arange(len(counts)), np.diff(indptr))
        norms = np.sqrt(np.bincount(rows, weights=values**2, minlength=len(counts)))
        norms[norms == 0] = 1.0
        values /= norms[rows]
        return sparse.csr_matrix((values, columns_array, np.array(indptr, dtype=np.int32)),
                                 shape=(len(counts), len(vocabulary)))


class TypeClassifier:
    """Predicts a probability for each scam type code and for ``ordinary``."""

    DEFAULT_ALPHA = 3e-5  # L2 strength, chosen by cross-validation (bench/tune_checker.py)
    # Logistic loss gives probabilities; a fixed seed keeps the checker reproducible.
    MODEL = {"loss": "log_loss", "max_iter": 20, "tol": None, "random_state": 0}

    def __init__(self, examples: Sequence[Example], alpha: float = DEFAULT_ALPHA) -> None:
        from sklearn.linear_model import SGDClassifier

        if not examples:
            raise ValueError("the classifier needs labelled examples")
        # Characters carry most of the signal in Chinese: 1-3 grams catch 刷单, 安全账户, 解冻费.
        self.features, matrix = CharNgrams.fit([e.text for e in examples])
        model = SGDClassifier(alpha=alpha, **self.MODEL)
        model.fit(matrix, [e.label for e in examples])
        self.classes: list[str] = list(model.classes_)
        self._set_weights(model.coef_, model.intercept_)

    def _set_weights(self, coef: np.ndarray, intercept: np.ndarray) -> None:
        self.coef = coef  # (classes, features)
        self.intercept = intercept
        self._coef_t = np.ascontiguousarray(coef.T)  # sparse @ dense wants it contiguous

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """One row per text, one column per class; the one-vs-rest logistic scores of each
        class, normalised to sum to one (as scikit-learn does for this model)."""
        scores = np.asarray(self.features.transform(texts) @ self._coef_t) + self.intercept
        probabilities = 1.0 / (1.0 + np.exp(-scores))
        return probabilities / probabilities.sum(axis=1, keepdims=True)

    # --- the on-disk cache ----------------------------------------------------------------

    @classmethod
    def cached(cls, examples: Sequence[Example], alpha: float = DEFAULT_ALPHA,
               cache_dir: Path | None = CACHE_DIR) -> "TypeClassifier":
        """Load the classifier fitted on exactly these examples, or fit and store it."""
        if cache_dir is None:
            return cls(examples, alpha)
        key = cache_key(examples, alpha)
        path = Path(cache_dir) / f"classifier-{key[:32]}.npz"
        loaded = cls._load(path, key)
        if loaded is not None:
            try:
                os.utime(path)  # most recently used: kept when older files are dropped
            except OSError:
                pass
            return loaded
        fitted = cls(examples, alpha)
        fitted._store(path, key)
        return fitted

    @classmethod
    def _load(cls, path: Path, key: str) -> "TypeClassifier | None":
        try:
            with np.load(path, allow_pickle=False) as data:
                if str(data["key"]) != key:
                    return None
                terms = json.loads(str(data["terms"]))
                idf, coef, intercept = data["idf"], data["coef"], data["intercept"]
                classes = data["classes"].tolist()
        except (OSError, KeyError, ValueError, EOFError, TypeError):  # missing, truncated, not an npz
            return None
        if not (isinstance(terms, list) and len(terms) == len(set(terms)) == idf.shape[0] == coef.shape[1]
                and coef.shape[0] == intercept.shape[0] == len(classes)):
            return None
        self = cls.__new__(cls)
        self.features = CharNgrams({t: i for i, t in enumerate(terms)}, idf)
        self.classes = classes
        self._set_weights(coef, intercept)
        return self

    def _store(self, path: Path, key: str) -> None:
        vocabulary = self.features.vocabulary
        terms = sorted(vocabulary, key=vocabulary.__getitem__)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # Write beside the target and rename: a reader never sees half a file.
            handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".classifier-", suffix=".npz")
            try:
                with os.fdopen(handle, "wb") as out:
                    # Terms as one JSON text: numpy's fixed-width strings would drop a trailing NUL.
                    np.savez(out, key=np.array(key), terms=np.array(json.dumps(terms, ensure_ascii=False)),
                             idf=self.features.idf,
                             coef=self.coef, intercept=self.intercept, classes=np.array(self.classes))
                os.replace(temporary, path)
            except BaseException:
                Path(temporary).unlink(missing_ok=True)
                raise
            files = sorted(path.parent.glob("classifier-*.npz"), key=_modified, reverse=True)
            for old in files[_CACHE_KEEP:]:  # the least recently used, for other examples
                old.unlink(missing_ok=True)
        except OSError:
            pass  # a read-only or full disk: the checker works, it just trains next time too


def _modified(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:  # removed meanwhile by another process
        return 0.0


def cache_key(examples: Sequence[Example], alpha: float) -> str:
    """Hash of everything the fitted numbers depend on."""
    from importlib.metadata import version

    recipe: dict[str, Any] = {
        "format": _CACHE_FORMAT,
        "alpha": alpha,
        "ngrams": CharNgrams.NGRAMS,
        "model": TypeClassifier.MODEL,
        "sklearn": version("scikit-learn"),
        "numpy": np.__version__,
        "examples": [[e.label, e.text] for e in examples],
    }
    return hashlib.sha256(json.dumps(recipe, ensure_ascii=False, sort_keys=True).encode("utf-8")).hexdigest()
