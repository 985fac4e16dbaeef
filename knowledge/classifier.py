"""The statistical part of the checker: TF-IDF over character and word n-grams, two linear models.

Trained from ``examples/*.yml``, so that what a reviewer adds to those files is what the
checker learns. Two models share the features: one names the type (every scam type code,
``ordinary`` and ``advert``), the other answers only "scam or not" with logistic loss, so that
a text with no evidence either way is not called a scam just because there are fifteen scam
types and two others. Texts are normalised first (``normalise.py``: traditional characters,
spacing, homophones) and numbers, links and phone numbers become placeholders, so a masked
"1xx****5678" and a real number look alike; a link on a bank's or an operator's own domain
(official_domains.yml, ``own_pages_only``) is left out, as no evidence either way. Word n-grams
are cut with jieba's dictionary plus the checker's own words (red-flag phrases, platforms), so
"安全账户" is one word. Training
(scikit-learn's SGDClassifier) takes a few seconds, so the fitted numbers (vocabulary, idf
weights, coefficients) are kept in an on-disk cache under ``var/cache/`` whose key is a hash of
the examples, those words and every setting below;
the cache holds plain arrays read with ``allow_pickle=False``; a missing, unreadable or
inconsistent file is simply retrained. With a warm cache, scikit-learn is not imported. The
settings were chosen on the style hold-out (bench/checker_bench.py, bench/tune_checker.py).
"""
from __future__ import annotations

import hashlib
import json
import math
import re
from collections import Counter
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from scipy import sparse

from . import filecache
from .filecache import CACHE_DIR
from .indicators import own_official_link
from .loader import KNOWLEDGE_DIR, NOT_SCAM, Example
from .nlp import PHONE, URL
from .normalise import default_normaliser

_CACHE_FORMAT = 4  # bump when the cached arrays change meaning

_IP_HOST = re.compile(r"^(?:https?://)?\d{1,3}(?:\.\d{1,3}){3}")
_TLD = re.compile(r"\.([a-z]{2,6})(?=[/:?#]|$)")
# Digits, and digits a resident masked ("138****5678", "xxx元"): one placeholder per run.
_NUMBER = re.compile(r"(?<![a-wyz])(?:\d(?:[\d*x.,:]*[\d*x])?|[*x]{2,}[\d*x]*)(?![a-wyz])")
# What a resident writes in place of a link they removed.
_LINK_PLACEHOLDER = re.compile(r"[\[【(（]\s*(?:链接|网址|url|link)\s*[\]】)）]")


def _link(match: re.Match[str]) -> str:
    if own_official_link(match.group(0)):  # a bank's or an operator's own site: no evidence either way
        return " "
    url = match.group(0).lower()
    if _IP_HOST.match(url):
        return " 网址ip "
    host = url.split("//", 1)[-1].split("/", 1)[0]
    tld = _TLD.search(host)
    return f" 网址{tld.group(1) if tld else ''} "


def feature_text(text: str) -> str:
    """The text as the models see it: normalised, with placeholders for links, phones, numbers."""
    text = default_normaliser().text(text)
    text = URL.sub(_link, _LINK_PLACEHOLDER.sub(" 网址 ", text))
    text = PHONE.sub(" 电话 ", text)
    return _NUMBER.sub("0", text)


@lru_cache(maxsize=4)
def _segmenter(dictionary: tuple[str, ...]) -> Any:
    """jieba's general dictionary plus the checker's own words (red-flag phrases, platforms,
    organisations), normalised as the texts are, so "安全账户" or "屏幕共享" is one word to the
    model as it is to the rules. A private Tokenizer: jieba's global state stays untouched."""
    import jieba

    jieba.setLogLevel(60)
    segmenter = jieba.Tokenizer()
    segmenter.initialize()
    normalise = default_normaliser().text
    for word in dictionary:
        segmenter.add_word(normalise(word), 20000)  # the frequency the checker's tokenizer gives them
    return segmenter


class Ngrams:
    """TF-IDF features: character 1–2-grams of the feature text, and (``words``) jieba word
    unigrams and bigrams, cut with the checker's ``dictionary``, marked with a leading "\x01";
    sublinear term frequency (1 + ln tf), smoothed idf (ln((1 + n) / (1 + df)) + 1), rows scaled
    to unit length. That is what scikit-learn's
    ``TfidfVectorizer(analyzer=Ngrams(...).terms, sublinear_tf=True)`` computes
    (tests/test_checker.py compares the two), without importing scikit-learn at start-up.
    """

    CHARS = (1, 2)
    _WHITESPACE = re.compile(r"\s+")

    def __init__(self, vocabulary: dict[str, int], idf: np.ndarray, words: bool,
                 dictionary: tuple[str, ...] = ()) -> None:
        self.vocabulary = vocabulary
        self.idf = idf
        self.words = words
        self.dictionary = dictionary

    @classmethod
    def fit(cls, texts: Sequence[str], words: bool, dictionary: tuple[str, ...] = ()) -> tuple["Ngrams", sparse.csr_matrix]:
        """Learn the vocabulary (sorted, as scikit-learn orders it) and the idf weights."""
        segmenter = _segmenter(dictionary) if words else None  # looked up once, not once a text
        counts = [Counter(cls._terms(t, segmenter)) for t in texts]
        df: Counter[str] = Counter()
        for doc in counts:
            df.update(doc.keys())
        terms = sorted(df)
        idf = np.log((1 + len(texts)) / (1 + np.array([df[t] for t in terms], dtype=float))) + 1
        features = cls({t: i for i, t in enumerate(terms)}, idf, words, dictionary)
        return features, features._matrix(counts)

    @cached_property
    def segmenter(self) -> Any:
        return _segmenter(self.dictionary) if self.words else None

    def terms(self, text: str) -> list[str]:
        return self._terms(text, self.segmenter)

    @classmethod
    def _terms(cls, text: str, segmenter: Any) -> list[str]:
        text = feature_text(text)
        chars = cls._WHITESPACE.sub(" ", text)
        low, high = cls.CHARS
        found = [chars[i : i + n] for n in range(low, min(high, len(chars)) + 1) for i in range(len(chars) - n + 1)]
        if segmenter is not None:
            tokens = [w for w in segmenter.cut(text, HMM=False) if w.strip()]
            found += ["\x01" + w for w in tokens]
            found += ["\x01" + a + " " + b for a, b in zip(tokens, tokens[1:])]
        return found

    def transform(self, texts: Sequence[str]) -> sparse.csr_matrix:
        return self._matrix([Counter(self.terms(t)) for t in texts])

    def _matrix(self, counts: list[Counter[str]]) -> sparse.csr_matrix:
        vocabulary = self.vocabulary
        indptr: list[int] = [0]
        columns: list[int] = []
        tf: list[float] = []
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
    """Probabilities for each label (scam type codes, ``ordinary``, ``advert``) and for "scam"."""

    # L2 strength of the type model and of the scam-or-not model, chosen on the style hold-out
    # (docs/performance.md, thirteenth round): with 23,430 examples, 1e-6 gains 0.004 on the fixed
    # test set over 2e-6 for three training seeds and is better calibrated; 7e-7 and 5e-7 gain
    # more but name more everyday look-alikes.
    DEFAULT_ALPHA = 1e-6
    SCAM_ALPHA = 1e-6
    WORDS = True  # jieba word n-grams beside the character n-grams (better on the style hold-out)
    # Logistic loss gives probabilities; a fixed seed keeps the checker reproducible.
    MODEL = {"loss": "log_loss", "max_iter": 20, "tol": None, "random_state": 0}

    def __init__(self, examples: Sequence[Example], alpha: float = DEFAULT_ALPHA,
                 dictionary: Sequence[str] = ()) -> None:
        """``dictionary``: the checker's own words, for the word n-grams (``Checker.dictionary``)."""
        from sklearn.linear_model import SGDClassifier

        if not examples:
            raise ValueError("the classifier needs labelled examples")
        self.features, matrix = Ngrams.fit([e.text for e in examples], self.WORDS, _sorted(dictionary))
        labels = [e.label for e in examples]
        model = SGDClassifier(alpha=alpha, **self.MODEL).fit(matrix, labels)
        scam = SGDClassifier(alpha=self.SCAM_ALPHA, **self.MODEL).fit(matrix, [label not in NOT_SCAM for label in labels])
        self.classes: list[str] = list(model.classes_)
        self._set_weights(np.vstack([model.coef_, scam.coef_]), np.concatenate([model.intercept_, scam.intercept_]))

    def _set_weights(self, coef: np.ndarray, intercept: np.ndarray) -> None:
        self.coef = coef  # (classes + 1, features): the last row is the scam-or-not model
        self.intercept = intercept
        self._coef_t = np.ascontiguousarray(coef.T)  # sparse @ dense wants it contiguous

    def scores(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(label probabilities, one row per text, one column per class; log-odds of "scam")."""
        raw = np.asarray(self.features.transform(texts) @ self._coef_t) + self.intercept
        probabilities = 1.0 / (1.0 + np.exp(-raw[:, :-1]))  # one-vs-rest, normalised as scikit-learn does
        return probabilities / probabilities.sum(axis=1, keepdims=True), raw[:, -1]

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        return self.scores(texts)[0]

    # --- the on-disk cache ----------------------------------------------------------------

    @classmethod
    def cached(cls, examples: Sequence[Example], alpha: float = DEFAULT_ALPHA,
               cache_dir: Path | None = CACHE_DIR, dictionary: Sequence[str] = ()) -> "TypeClassifier":
        """Load the classifier fitted on exactly these examples and words, or fit and store it."""
        if cache_dir is None:
            return cls(examples, alpha, dictionary)
        key = cache_key(examples, alpha, dictionary)
        path = Path(cache_dir) / f"classifier-{key[:32]}.npz"
        loaded = cls._load(path, key, _sorted(dictionary))
        if loaded is not None:
            filecache.used(path)
            return loaded
        fitted = cls(examples, alpha, dictionary)
        fitted._store(path, key)
        return fitted

    @classmethod
    def _load(cls, path: Path, key: str, dictionary: tuple[str, ...]) -> "TypeClassifier | None":
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
                and coef.shape[0] == intercept.shape[0] == len(classes) + 1):
            return None
        self = cls.__new__(cls)
        self.features = Ngrams({t: i for i, t in enumerate(terms)}, idf, cls.WORDS, dictionary)
        self.classes = classes
        self._set_weights(coef, intercept)
        return self

    def _store(self, path: Path, key: str) -> None:
        vocabulary = self.features.vocabulary
        terms = sorted(vocabulary, key=vocabulary.__getitem__)
        # Terms as one JSON text: numpy's fixed-width strings would drop a trailing NUL.
        filecache.store(path, lambda out: np.savez(
            out, key=np.array(key), terms=np.array(json.dumps(terms, ensure_ascii=False)), idf=self.features.idf,
            coef=self.coef, intercept=self.intercept, classes=np.array(self.classes)))


def _sorted(dictionary: Sequence[str]) -> tuple[str, ...]:
    return tuple(sorted(set(dictionary)))


def cache_key(examples: Sequence[Example], alpha: float, dictionary: Sequence[str] = ()) -> str:
    """Hash of everything the fitted numbers depend on."""
    from importlib.metadata import version

    recipe: dict[str, Any] = {
        "format": _CACHE_FORMAT,
        "alpha": alpha,
        "chars": Ngrams.CHARS,
        "words": TypeClassifier.WORDS,
        "scam_alpha": TypeClassifier.SCAM_ALPHA,
        "model": TypeClassifier.MODEL,
        "normalise": hashlib.sha256((KNOWLEDGE_DIR / "spelling.yml").read_bytes()).hexdigest(),
        "official_domains": hashlib.sha256((KNOWLEDGE_DIR / "official_domains.yml").read_bytes()).hexdigest(),
        "sklearn": version("scikit-learn"),
        "numpy": np.__version__,
        "jieba": version("jieba"),
        "opencc": version("opencc"),
        "dictionary": _sorted(dictionary),
        "examples": [[e.label, e.text] for e in examples],
    }
    return hashlib.sha256(json.dumps(recipe, ensure_ascii=False, sort_keys=True).encode("utf-8")).hexdigest()
