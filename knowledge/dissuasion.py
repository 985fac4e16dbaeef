"""What a dissuasion call says for each scam type (knowledge/dissuasion.yml), checked on load.

The anti-fraud centre phones a resident a warning is about; the call asks the type's two or
three yes/no questions and reads its key warning. On the phone a long sentence is lost before
it ends, so every sentence is at most ``MAX_SENTENCE_CHARS`` characters and the whole opening
(who is calling, why, "may I ask") at most ``MAX_OPENING_CHARS``: 20 seconds at 4 characters a
second. The counting lives here, once; the voice channel checks its own sentences with it.

Numbers are written as ``{police_110.number}`` / ``{antifraud_96110.number}`` placeholders
(knowledge/contacts.yml) and filled in on load, so the lengths are those of what is said.
A malformed file stops loading with the file, the field and the reason.
"""
from __future__ import annotations

import re
import string
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

from knowledge.loader import KNOWLEDGE_DIR, Contact, KnowledgeError, load_contacts, read_mapping

DISSUASION_FILE = KNOWLEDGE_DIR / "dissuasion.yml"
MAX_SENTENCE_CHARS = 25
CHARS_PER_SECOND = 4
MAX_OPENING_SECONDS = 20
MAX_OPENING_CHARS = CHARS_PER_SECOND * MAX_OPENING_SECONDS
# What a "yes" to a question means: money is moving / still in touch, or the money has gone.
MONEY_MOVING = "money_moving"
PAID = "paid"
YES_MEANINGS = (MONEY_MOVING, PAID)
MIN_QUESTIONS, MAX_QUESTIONS = 2, 3
MIN_WARNING, MAX_WARNING = 2, 4
GENERAL = "general"
_SENTENCE = re.compile(r"[^。！？]+[。！？]*")
_ID = re.compile(r"^[a-z][a-z0-9_]*$")
_CONTACT_FIELDS = ("number", "voice", "name")


class DissuasionError(KnowledgeError):
    """dissuasion.yml (or a voice text checked with it) is malformed: file, field, reason."""


def spoken_length(text: str) -> int:
    """Characters said, punctuation included; the line breaks and spaces of YAML folding are not."""
    return sum(1 for ch in text if not ch.isspace())


def sentences(text: str) -> list[str]:
    """The sentences of ``text``, each with its end mark (。！？)."""
    return [s for s in (m.group(0).strip() for m in _SENTENCE.finditer(re.sub(r"\s+", "", text))) if s]


def long_sentence(text: str, limit: int = MAX_SENTENCE_CHARS) -> str | None:
    """Why ``text`` is too long to say, or None: names the first sentence over ``limit``."""
    for sentence in sentences(text):
        if spoken_length(sentence) > limit:
            return f"the sentence '{sentence}' has {spoken_length(sentence)} characters; at most {limit}"
    return None


def long_opening(parts: Iterable[str]) -> str | None:
    """Why the opening made of ``parts`` takes longer than 20 seconds, or None."""
    text = "".join(parts)
    length = spoken_length(text)
    if length > MAX_OPENING_CHARS:
        return (f"the opening '{text}' has {length} characters; at most {MAX_OPENING_CHARS} "
                f"({MAX_OPENING_SECONDS} s at {CHARS_PER_SECOND} characters a second)")
    return None


@dataclass(frozen=True)
class Question:
    id: str
    ask: str
    yes_means: str  # MONEY_MOVING or PAID


@dataclass(frozen=True)
class Dissuasion:
    code: str  # a scam type code, or GENERAL
    reason: str
    questions: tuple[Question, ...]
    warning: tuple[str, ...]
    where: str  # its field in the file, for errors found later (the whole opening)


@dataclass(frozen=True)
class DissuasionBook:
    path: Path
    general: Dissuasion
    types: dict[str, Dissuasion]

    def for_type(self, scam_type: str | None) -> Dissuasion:
        """The type's texts; the general ones for a warning without a (known) type."""
        return self.types.get(scam_type or "", self.general)

    def all(self) -> tuple[Dissuasion, ...]:
        return (self.general, *self.types.values())

    def check_openings(self, before: str, after: str) -> None:
        """Every type's whole opening (``before`` + its reason + ``after``) fits in 20 seconds."""
        for entry in self.all():
            problem = long_opening((before, entry.reason, after))
            if problem:
                raise DissuasionError(self.path, f"{entry.where}.reason", problem)


def fill_contacts(text: str, contacts: Mapping[str, Contact], fail: Any) -> str:
    """Fill ``{contact_id.number|voice|name}``; ``fail(reason)`` builds the error for anything else."""
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError as error:
        raise fail(f"unbalanced braces: {error}") from None
    out: list[str] = []
    for literal, name, spec, conversion in parsed:
        out.append(literal)
        if name is None:
            continue
        contact_id, _, attribute = name.partition(".")
        contact = contacts.get(contact_id)
        if spec or conversion or contact is None or attribute not in _CONTACT_FIELDS:
            raise fail(f"unknown placeholder '{{{name}}}': use <contact id>.number, .voice or .name "
                       "with a contact id from knowledge/contacts.yml")
        value = getattr(contact, attribute)
        if not value:
            raise fail(f"contact '{contact_id}' has no {attribute}")
        out.append(value)
    return "".join(out)


class _Fields:
    def __init__(self, path: Path, contacts: Mapping[str, Contact]) -> None:
        self.path = path
        self.contacts = contacts

    def fail(self, where: str, reason: str) -> DissuasionError:
        return DissuasionError(self.path, where, reason)

    def spoken(self, data: Any, where: str) -> str:
        """A non-empty text, contacts filled in, every sentence short enough to say."""
        if not isinstance(data, str) or not data.strip():
            raise self.fail(where, "must be a non-empty text")
        text = fill_contacts(data.strip(), self.contacts, lambda reason: self.fail(where, reason))
        problem = long_sentence(text)
        if problem:
            raise self.fail(where, problem)
        return text

    def entry(self, data: Any, code: str, where: str) -> Dissuasion:
        if not isinstance(data, dict):
            raise self.fail(where, "must be a mapping with reason, questions and warning")
        unknown = sorted(set(data) - {"reason", "questions", "warning"})
        if unknown:
            raise self.fail(f"{where}.{unknown[0]}", "unknown field (known: reason, questions, warning)")
        reason = self.spoken(data.get("reason"), f"{where}.reason")
        if len(sentences(reason)) != 1:
            raise self.fail(f"{where}.reason", "must be one sentence")
        questions = self.questions(data.get("questions"), f"{where}.questions")
        warning = data.get("warning")
        if not isinstance(warning, list) or not MIN_WARNING <= len(warning) <= MAX_WARNING:
            raise self.fail(f"{where}.warning", f"must be a list of {MIN_WARNING} to {MAX_WARNING} texts")
        said = tuple(self.spoken(item, f"{where}.warning[{i}]") for i, item in enumerate(warning))
        return Dissuasion(code=code, reason=reason, questions=questions, warning=said, where=where)

    def questions(self, data: Any, where: str) -> tuple[Question, ...]:
        if not isinstance(data, list) or not MIN_QUESTIONS <= len(data) <= MAX_QUESTIONS:
            raise self.fail(where, f"must be a list of {MIN_QUESTIONS} to {MAX_QUESTIONS} questions")
        out: list[Question] = []
        for i, item in enumerate(data):
            here = f"{where}[{i}]"
            if not isinstance(item, dict):
                raise self.fail(here, "must be a mapping with id, ask and yes_means")
            question_id = item.get("id")
            if not isinstance(question_id, str) or not _ID.match(question_id):
                raise self.fail(f"{here}.id", "must be lower_snake_case")
            if any(q.id == question_id for q in out):
                raise self.fail(f"{here}.id", f"'{question_id}' is used twice")
            ask = self.spoken(item.get("ask"), f"{here}.ask")
            if len(sentences(ask)) != 1 or not ask.endswith("？"):
                raise self.fail(f"{here}.ask", "must be one question ending with ？")
            if item.get("yes_means") not in YES_MEANINGS:
                raise self.fail(f"{here}.yes_means", f"must be one of {', '.join(YES_MEANINGS)}")
            out.append(Question(id=question_id, ask=ask, yes_means=item["yes_means"]))
        for meaning in YES_MEANINGS:
            if not any(q.yes_means == meaning for q in out):
                raise self.fail(where, f"needs a question whose yes_means is {meaning}")
        return tuple(out)


def scam_type_codes(directory: Path = KNOWLEDGE_DIR) -> list[str]:
    """The codes of the scam types (each file's name is its code, see knowledge/loader.py)."""
    return sorted(path.stem for path in (directory / "scam_types").glob("*.yml"))


def load_dissuasion(
    path: Path = DISSUASION_FILE,
    scam_types: Iterable[str] | None = None,
    contacts_path: Path | None = None,
) -> DissuasionBook:
    """Read and check the file; every scam type (default: knowledge/scam_types/) must be covered."""
    codes = list(scam_types) if scam_types is not None else scam_type_codes()
    contacts = load_contacts(contacts_path or KNOWLEDGE_DIR / "contacts.yml")
    data = read_mapping(path, DissuasionError)
    fields = _Fields(path, contacts)
    general = fields.entry(data.get(GENERAL), GENERAL, GENERAL)
    types = data.get("types")
    if not isinstance(types, dict):
        raise DissuasionError(path, "types", "must be a mapping of scam type code to its texts")
    for code in types:
        if code not in codes:
            raise DissuasionError(path, f"types.{code}", f"'{code}' is not a scam type in knowledge/scam_types/")
    missing = [code for code in codes if code not in types]
    if missing:
        raise DissuasionError(path, f"types.{missing[0]}",
                              f"missing: every scam type needs its texts (missing: {', '.join(missing)})")
    entries = {code: fields.entry(types[code], code, f"types.{code}") for code in codes}
    return DissuasionBook(path=path, general=general, types=entries)
