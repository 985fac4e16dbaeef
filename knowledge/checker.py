"""Check a described situation or a pasted message against the known scam types.

Two kinds of evidence feed one decision: the classifier (a scam-or-not model and a type model)
and what the rules find (red flags, and calm signs such as "都是诈骗" or "请勿泄露验证码").
Whether it is a scam: the log-odds of the scam-or-not model averaged with the type model's own
log-odds of "a scam type, not ordinary or advert" (two views of the same text: together they
hold up better on a style the examples lack), plus what all red flags together say, minus what
the calm signs say, plus a prior. Which type: the type model's log-probability of
each scam type plus the strength of its own red flags and of the shared techniques typical of
it. A high risk needs a strong red flag, not a probability alone; a critical technique (safe
account, screen sharing …) makes the risk high unless the text itself rebuts it. The weights
below were chosen by ``bench/tune_checker.py`` on the style hold-out of the training
examples, never on the evaluation set or on real messages.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable, Sequence

import numpy as np

from .amounts import parse_amount
from .classifier import TypeClassifier
from .loader import ADVERT, NOT_SCAM, FollowUp, Knowledge, default_knowledge
from .nlp import CALM_HITS, FLAG_HITS, EntityHit, FlagHit, Lexicon, build_pipeline, load_lexicon
from .text import valid_text

RISK_LEVELS = ("high", "medium", "low", "none")
RISK_COLOURS = {"high": "红色", "medium": "橙色", "low": "黄色", "none": "未发现"}


@dataclass(frozen=True)
class Weights:
    type_share: float = 0.7  # share of the type model's "not ordinary" log-odds in the scam evidence
    own_flags: float = 0.5  # how far a type's own red flags move its type score
    shared_flags: float = 1.0  # shared techniques typical of the type
    flags: float = 2.0  # how far red flags (all together) move the scam log-odds
    prior: float = -1.0  # log-odds added to "scam": a text with no evidence is not a scam
    calm: float = 6.0  # how far calm signs (a warning, a plain notice) move the scam log-odds down
    strong: float = 0.5  # a red flag at least this strong is needed for a high risk
    high: float = 0.95  # probability of a scam from which the risk is high …
    medium: float = 0.7  # … medium
    low: float = 0.35  # … low
    ask: float = 0.25  # below "low", still ask the type's follow-up questions from here (an early, unclear story)
    unclear_margin: float = 0.3  # top two types closer than this: ask a follow-up


@dataclass(frozen=True)
class Verdict:
    scam_type: str | None
    scam_name: str | None
    risk: str
    scam_probability: float
    probabilities: dict[str, float]  # scam type code -> probability, highest first
    red_flags: tuple[FlagHit, ...]
    entities: tuple[EntityHit, ...]
    follow_up: tuple[FollowUp, ...] = field(default=())
    advert: bool = False  # reads as ordinary marketing: not fraud, but its links and numbers are not vouched for

    @property
    def risk_colour(self) -> str:
        return RISK_COLOURS[self.risk]

    @property
    def unclear(self) -> bool:
        return bool(self.follow_up)

    def as_json(self, record_id: Any = None) -> dict[str, Any]:
        """The stable line format of ``fanzha check --jsonl``."""
        return {
            "id": record_id,
            "scam_type": self.scam_type,
            "risk": self.risk,
            "probabilities": {code: round(p, 4) for code, p in self.probabilities.items()},
            "red_flags": [
                {"flag": h.flag, "label": h.label, "text": h.text, "start": h.start, "end": h.end}
                for h in self.red_flags
            ],
            "entities": [asdict(e) for e in self.entities],
        }


class Checker:
    """Build once (about a second with the classifier cache warm), then call :meth:`check`
    or :meth:`check_many`."""

    def __init__(self, knowledge: Knowledge | None = None, lexicon: Lexicon | None = None,
                 weights: Weights = Weights(), classifier: TypeClassifier | None = None) -> None:
        self.knowledge = knowledge or default_knowledge()
        self.weights = weights
        self.nlp, self.flags, self.calm = build_pipeline(self.knowledge, lexicon or load_lexicon())
        self.classifier = classifier or TypeClassifier.cached(self.knowledge.examples, dictionary=self.dictionary)
        missing = set(self.knowledge.scam_types) - set(self.classifier.classes)
        if missing:
            raise ValueError(f"no training examples for scam types: {', '.join(sorted(missing))}")

    @property
    def dictionary(self) -> tuple[str, ...]:
        """The checker's own words (red-flag phrases, platforms, organisations): the tokenizer's
        dictionary, and the classifier's beside jieba's general one. Pass it to a
        ``TypeClassifier`` trained outside this class, as the benches do."""
        return tuple(self.nlp.tokenizer.words)

    def check(self, text: str, confirmed: Iterable[str] = ()) -> Verdict:
        return self.check_many([text], [confirmed])[0]

    def check_many(self, texts: Sequence[str], confirmed: Sequence[Iterable[str]] | None = None) -> list[Verdict]:
        """Check many texts at once (batch mode shares the classifier call)."""
        # Lone surrogates (JSON "\ud800", undecodable bytes) would stop the tokenizer.
        texts = [valid_text(t) if isinstance(t, str) else "" for t in texts]
        confirmed = confirmed or [()] * len(texts)
        probabilities, scam_log_odds = self.classifier.scores(texts)
        docs = self.nlp.pipe(texts)
        return [
            self._decide(doc, row, float(odds), set(extra))
            for doc, row, odds, extra in zip(docs, probabilities, scam_log_odds, confirmed)
        ]

    # --- the decision -------------------------------------------------------------------

    def _decide(self, doc: Any, classifier_row: Sequence[float], scam_log_odds: float, confirmed: set[str]) -> Verdict:
        w = self.weights
        hits = doc.user_data.get(FLAG_HITS)
        if hits is None:
            hits = self.flags.find(doc.text)
        calm_hits = doc.user_data.get(CALM_HITS)
        if calm_hits is None:
            calm_hits = self.calm.find(doc.text)
        calm = noisy_or({h.flag: h.weight for h in calm_hits}.values())
        own: dict[str, dict[str, float]] = {}  # type -> flag id -> weight
        shared: dict[str, float] = {}
        for hit in hits:
            if hit.scam_type:
                own.setdefault(hit.scam_type, {})[hit.flag] = hit.weight
            else:
                shared[hit.flag] = hit.weight
        confirmed_weights: list[float] = []
        for flag_id in confirmed:  # a "yes" to a follow-up question
            for code, scam_type in self.knowledge.scam_types.items():
                flag = self.knowledge.flag(flag_id, code)
                if flag is None:
                    continue
                confirmed_weights.append(flag.weight)
                if flag.scam_type:
                    own.setdefault(code, {})[flag_id] = flag.weight
                else:
                    shared[flag_id] = flag.weight

        every_flag = list(shared.values()) + [v for flags in own.values() for v in flags.values()]
        by_label = dict(zip(self.classifier.classes, classifier_row))
        not_scam = sum(float(by_label.get(label, 0.0)) for label in NOT_SCAM)
        evidence = float(mixed_log_odds(scam_log_odds, not_scam, w.type_share))
        log_odds = evidence + w.prior + w.flags * noisy_or(every_flag) - w.calm * calm
        p_scam = 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, log_odds))))
        scores: dict[str, float] = {}
        for label, scam_type in self.knowledge.scam_types.items():
            score = math.log(max(float(by_label.get(label, 0.0)), 1e-6))
            score += w.own_flags * noisy_or(own.get(label, {}).values())
            score += w.shared_flags * noisy_or(v for k, v in shared.items() if k in scam_type.shared_flags)
            scores[label] = score
        ranked = sorted(((code, p_scam * p) for code, p in _softmax(scores).items()), key=lambda kv: -kv[1])
        looks_like = max(by_label, key=by_label.__getitem__)
        critical = any(h.severity == "critical" and h.scam_type is None for h in hits)
        rebutted = any(self.knowledge.calm_signs[h.flag].rebuts for h in calm_hits)
        strong = any(v >= w.strong for v in every_flag)
        risk = self._risk(p_scam, strong, critical, rebutted)
        if risk in ("low", "none") and any(v >= w.strong for v in confirmed_weights):
            # The resident said yes to the question that decides it ("对方让你先交钱吗？"):
            # their own account outweighs what one message's words could show.
            risk = "medium"
        top_code, top_p = ranked[0]
        named: str | None = top_code if risk in ("high", "medium") else None
        follow_up: tuple[FollowUp, ...] = ()
        second_p = ranked[1][1] if len(ranked) > 1 else 0.0
        if risk in ("medium", "low") or p_scam >= w.ask or (named and top_p - second_p < w.unclear_margin * p_scam):
            known = set(own.get(top_code, {})) | set(shared)
            follow_up = tuple(
                q for q in self.knowledge.scam_types[top_code].follow_up_questions if q.confirms not in known
            )
        return Verdict(
            scam_type=named,
            scam_name=self.knowledge.scam_types[named].name if named else None,
            risk=risk,
            scam_probability=p_scam,
            probabilities=dict(ranked),
            red_flags=tuple(hits),
            entities=tuple(_entities(doc)),
            follow_up=follow_up,
            advert=risk in ("none", "low") and looks_like == ADVERT,
        )

    def _risk(self, p_scam: float, strong_flag: bool, critical: bool, rebutted: bool) -> str:
        w = self.weights
        # A critical technique (safe account, screen sharing …) makes the risk high on its
        # own, unless the text itself rebuts it ("都是诈骗", "不要共享屏幕"): then it is a
        # warning, and the probabilities decide.
        if (p_scam >= w.high and strong_flag) or (critical and (p_scam >= w.medium or not rebutted)):
            return "high"
        if p_scam >= w.medium:
            return "medium"
        if p_scam >= w.low or critical:
            return "low"
        return "none"


def mixed_log_odds(scam_log_odds: Any, not_scam_probability: Any, type_share: float) -> Any:
    """The scam-or-not model's log-odds averaged with the type model's log-odds of a scam type
    (its probability of anything but ordinary or advert); floats or numpy arrays alike."""
    p = np.clip(not_scam_probability, 1e-6, 1 - 1e-6)
    return (1 - type_share) * scam_log_odds + type_share * np.log((1 - p) / p)


def noisy_or(weights: Iterable[float]) -> float:
    """Evidence from several independent flags: 1 - Π(1 - w)."""
    remaining = 1.0
    for weight in weights:
        remaining *= 1.0 - weight
    return 1.0 - remaining


def _softmax(scores: dict[str, float]) -> dict[str, float]:
    top = max(scores.values())
    exp = {k: math.exp(v - top) for k, v in scores.items()}
    total = sum(exp.values())
    return {k: v / total for k, v in exp.items()}


def _entities(doc: Any) -> list[EntityHit]:
    out = []
    for ent in doc.ents:
        value: Any = ent.text
        if ent.label_ == "payment_channel":
            value = ent.ent_id_ or ent.text
        elif ent.label_ == "amount":
            value = parse_amount(ent.text)
        out.append(EntityHit(ent.label_, ent.text, ent.start_char, ent.end_char, value))
    return out
