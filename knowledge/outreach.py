"""Load and validate the outreach material: scenarios, the quiz and the handout wording.

Volunteers play the scenarios (knowledge/scenarios/*.yml) and the quiz (knowledge/quiz.yml)
in community halls; the handouts are printed from knowledge/outreach.yml together with the
scam types, contacts and procedures. Like knowledge/loader.py, a malformed file stops loading
with the file, the field and the reason.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from .loader import KNOWLEDGE_DIR, Knowledge, KnowledgeError, Source, _read_yaml, _Reader, _source, _template, default_knowledge

SPEAKERS = ("scammer", "resident")


@dataclass(frozen=True)
class Step:
    who: str  # scammer or resident
    text: str
    via: str  # how the scammer's message came (电话, 短信 …); empty for the resident


@dataclass(frozen=True)
class Scenario:
    code: str
    order: int
    scam_type: str
    title: str
    resident: str  # who is being scammed
    scammer: str  # who the scammer pretends to be
    setting: str
    steps: tuple[Step, ...]
    source: Source

    def conversation(self, upto: int) -> tuple[str, list[int]]:
        """The text of steps 1..upto joined by newlines, and where each step starts in it."""
        if not 1 <= upto <= len(self.steps):
            raise ValueError(f"scenario '{self.code}' has steps 1 to {len(self.steps)}, not {upto}")
        offsets, parts, at = [], [], 0
        for step in self.steps[:upto]:
            offsets.append(at)
            parts.append(step.text)
            at += len(step.text) + 1
        return "\n".join(parts), offsets


@dataclass(frozen=True)
class QuizQuestion:
    number: int  # 1-based, in file order
    source_kind: str  # 短信, 电话, 微信 …
    text: str
    scam: bool
    scam_type: str | None
    why: str


@dataclass(frozen=True)
class VerdictWording:
    looks_like: str  # {name}
    suspicious: str
    none_found: str
    general_advice_count: int


@dataclass(frozen=True)
class QuizWording:
    scam_answer: str
    ordinary_answer: str


@dataclass(frozen=True)
class HandoutWording:
    general_title: str
    type_title: str  # {name}
    slogan_title: str
    slogan: tuple[str, ...]
    numbers_title: str
    numbers: tuple[str, ...]  # contact ids
    paid_title: str
    never_title: str
    never: tuple[str, ...]
    stages_title: str
    flags_title: str
    advice_title: str
    app_contact: str  # contact id
    qr_caption: str
    source_label: str


@dataclass(frozen=True)
class Outreach:
    scenarios: dict[str, Scenario]  # in play order
    quiz: tuple[QuizQuestion, ...]
    verdict: VerdictWording
    handout: HandoutWording
    quiz_wording: QuizWording
    source: Source

    def scenario(self, key: str) -> Scenario:
        """A scenario by its code or its number in the list (1-based)."""
        if key in self.scenarios:
            return self.scenarios[key]
        if key.isdigit() and 1 <= int(key) <= len(self.scenarios):
            return list(self.scenarios.values())[int(key) - 1]
        raise KeyError(key)


def _scam_type(reader: _Reader, key: str, kb: Knowledge) -> str:
    code = reader.ident(key)
    if code not in kb.scam_types:
        raise reader.fail(key, f"unknown scam type '{code}' (see knowledge/scam_types/)")
    return code


def load_scenario(path: Path, kb: Knowledge) -> Scenario:
    reader = _read_yaml(path)
    code = reader.ident("code")
    if code != path.stem:
        raise reader.fail("code", f"'{code}' must match the file name '{path.stem}'")
    order = reader.data.get("order")
    if isinstance(order, bool) or not isinstance(order, int) or order < 1:
        raise reader.fail("order", "must be a whole number from 1")
    steps = []
    for item in reader.items("steps"):
        who = item.text("who")
        if who not in SPEAKERS:
            raise item.fail("who", f"must be one of {', '.join(SPEAKERS)}")
        via = item.text("via", optional=True)
        if who == "scammer" and not via:
            raise item.fail("via", "say how the scammer's message came (电话, 短信, 微信 …)")
        steps.append(Step(who=who, text=item.text("text"), via=via))
    if len(steps) < 3:
        raise reader.fail("steps", "needs at least 3 steps")
    if steps[0].who != "scammer":
        raise reader.fail("steps[0].who", "the first step is the scammer's")
    return Scenario(
        code=code,
        order=order,
        scam_type=_scam_type(reader, "scam_type", kb),
        title=reader.text("title"),
        resident=reader.text("resident"),
        scammer=reader.text("scammer"),
        setting=reader.text("setting"),
        steps=tuple(steps),
        source=_source(reader),
    )


def load_scenarios(directory: Path, kb: Knowledge) -> dict[str, Scenario]:
    paths = sorted(directory.glob("*.yml"))
    if not paths:
        raise KnowledgeError(directory, "(folder)", "no scenario files")
    scenarios = [load_scenario(path, kb) for path in paths]
    seen: dict[int, str] = {}
    for scenario in scenarios:
        if scenario.order in seen:
            raise KnowledgeError(
                directory / f"{scenario.code}.yml", "order",
                f"{scenario.order} is already used by '{seen[scenario.order]}'",
            )
        seen[scenario.order] = scenario.code
    return {s.code: s for s in sorted(scenarios, key=lambda s: s.order)}


def load_quiz(path: Path, kb: Knowledge) -> tuple[QuizQuestion, ...]:
    reader = _read_yaml(path)
    _source(reader)
    questions = []
    for number, item in enumerate(reader.items("questions"), 1):
        scam = item.data.get("scam")
        if not isinstance(scam, bool):
            raise item.fail("scam", "must be true (a scam) or false (an ordinary message)")
        scam_type = _scam_type(item, "scam_type", kb) if scam else None
        if not scam and "scam_type" in item.data:
            raise item.fail("scam_type", "an ordinary message has no scam type")
        questions.append(QuizQuestion(
            number=number, source_kind=item.text("from"), text=item.text("text"),
            scam=scam, scam_type=scam_type, why=item.text("why"),
        ))
    if not any(q.scam for q in questions) or all(q.scam for q in questions):
        raise reader.fail("questions", "mix scams and ordinary messages")
    return tuple(questions)


def _contact_ids(reader: _Reader, key: str, kb: Knowledge) -> tuple[str, ...]:
    ids = reader.texts(key)
    for i, contact_id in enumerate(ids):
        if contact_id not in kb.contacts:
            raise reader.fail(f"{key}[{i}]", f"unknown contact '{contact_id}' (see knowledge/contacts.yml)")
    return ids


def load_wording(path: Path, kb: Knowledge) -> tuple[VerdictWording, HandoutWording, QuizWording, Source]:
    reader = _read_yaml(path)
    verdict = reader.child("verdict")
    count = verdict.data.get("general_advice_count")
    general = kb.procedures.situations["not_paid"].say
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= len(general):
        raise verdict.fail("general_advice_count", f"must be a whole number from 1 to {len(general)}")
    handout = reader.child("handout")
    quiz = reader.child("quiz")
    app = handout.ident("app_contact")
    if app not in kb.contacts:
        raise handout.fail("app_contact", f"unknown contact '{app}' (see knowledge/contacts.yml)")
    return (
        VerdictWording(
            looks_like=_template(verdict, "looks_like", {"name"}),
            suspicious=verdict.text("suspicious"),
            none_found=verdict.text("none_found"),
            general_advice_count=count,
        ),
        HandoutWording(
            general_title=handout.text("general_title"),
            type_title=_template(handout, "type_title", {"name"}),
            slogan_title=handout.text("slogan_title"),
            slogan=handout.texts("slogan"),
            numbers_title=handout.text("numbers_title"),
            numbers=_contact_ids(handout, "numbers", kb),
            paid_title=handout.text("paid_title"),
            never_title=handout.text("never_title"),
            never=handout.texts("never"),
            stages_title=handout.text("stages_title"),
            flags_title=handout.text("flags_title"),
            advice_title=handout.text("advice_title"),
            app_contact=app,
            qr_caption=handout.text("qr_caption"),
            source_label=handout.text("source_label"),
        ),
        QuizWording(scam_answer=quiz.text("scam_answer"), ordinary_answer=quiz.text("ordinary_answer")),
        _source(reader),
    )


def load_outreach(directory: Path = KNOWLEDGE_DIR, kb: Knowledge | None = None) -> Outreach:
    """Read the outreach files; raise KnowledgeError naming the first problem."""
    kb = kb or default_knowledge()
    verdict, handout, quiz_wording, source = load_wording(directory / "outreach.yml", kb)
    return Outreach(
        scenarios=load_scenarios(directory / "scenarios", kb),
        quiz=load_quiz(directory / "quiz.yml", kb),
        verdict=verdict,
        handout=handout,
        quiz_wording=quiz_wording,
        source=source,
    )


@lru_cache(maxsize=1)
def default_outreach() -> Outreach:
    """The project's outreach material, loaded once per process."""
    return load_outreach()
