"""Load and validate the knowledge YAML files.

A malformed file stops loading with the file, the field and the reason, so a reviewer who
edits a file sees at once what to fix.
"""
from __future__ import annotations

import datetime
import hashlib
import json
import re
import string
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable

import yaml

from . import filecache

KNOWLEDGE_DIR = Path(__file__).resolve().parent
SEVERITIES = ("critical", "major", "minor")
# The styles residents write in; the checker bench holds each out in turn.
EXAMPLE_KINDS = ("narrative", "sms", "chat", "spoken")
ORDINARY = "ordinary"
# Ordinary marketing (shops, operators, banks' product adverts): not a scam, answered as an advert.
ADVERT = "advert"
NOT_SCAM = (ORDINARY, ADVERT)
_ID = re.compile(r"^[a-z][a-z0-9_]*$")
# libyaml's parser reads the knowledge files about ten times faster than the pure-Python
# one (it is part of the PyYAML wheels); both build the same plain Python data.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class KnowledgeError(ValueError):
    """A knowledge file is malformed."""

    def __init__(self, path: Path | str, field_name: str, reason: str) -> None:
        self.path = str(path)
        self.field = field_name
        self.reason = reason
        super().__init__(f"{self.path}: field '{field_name}': {reason}")


@dataclass(frozen=True)
class Source:
    publisher: str
    title: str
    date: str


@dataclass(frozen=True)
class RedFlag:
    id: str
    label: str
    weight: float
    phrases: tuple[str, ...]
    patterns: tuple[str, ...]
    severity: str = "major"
    scam_type: str | None = None  # None for flags shared by every type
    keeps_negation: bool = False  # the tell is itself a "don't" (不要告诉家人): a negation before it does not cancel it
    # Patterns of an everyday setting for the same words (a work meeting, an online class): in the
    # same sentence, a critical technique counts as a major one and the rest of the evidence decides.
    ordinary_settings: tuple[str, ...] = ()
    # A link on the official domain of an institution that publishes only its own pages (a bank's,
    # an operator's: official_domains.yml, own_pages_only) is not this flag's hit.
    skips_official_links: bool = False


@dataclass(frozen=True)
class Negation:
    """When a negation before a red flag's words cancels it ("客服没让我共享屏幕"): negation.yml."""

    negators: tuple[str, ...]
    not_negation: tuple[str, ...]  # words that hold a negator's character but negate nothing (区别, 没收)
    modal: tuple[str, ...]
    asking: tuple[str, ...]
    who: tuple[str, ...]
    doing: tuple[str, ...]
    conditions: tuple[str, ...]  # "不……就……": a threat, the flag stays


@dataclass(frozen=True)
class CalmSign:
    """A sign that a text warns about scams or is a plain notice (see calm_signs.yml)."""

    id: str
    label: str
    weight: float
    phrases: tuple[str, ...]
    patterns: tuple[str, ...]
    rebuts: bool = False  # rebuts the dangerous request itself: may calm a critical technique
    severity: str = "calm"
    scam_type: None = None


@dataclass(frozen=True)
class FollowUp:
    ask: str
    voice: str
    confirms: str


@dataclass(frozen=True)
class ScamType:
    code: str
    name: str
    aliases: tuple[str, ...]
    description: str
    stages: tuple[str, ...]
    red_flags: tuple[RedFlag, ...]
    shared_flags: tuple[str, ...]
    follow_up_questions: tuple[FollowUp, ...]
    advice_not_paid: tuple[str, ...]
    advice_paid: tuple[str, ...]
    official_line: str
    source: Source
    evidence: tuple[str, ...] = ()  # what to bring when reporting this type; the first is said on the phone


@dataclass(frozen=True)
class Faq:
    key: str
    question: str
    answer: str
    voice: str
    source: Source


@dataclass(frozen=True)
class Contact:
    id: str
    name: str
    number: str | None
    say: str
    voice: str


@dataclass(frozen=True)
class Situation:
    say: tuple[str, ...]
    voice: tuple[str, ...]


@dataclass(frozen=True)
class PaymentChannel:
    code: str
    name: str
    evidence: tuple[str, ...]  # the first is said on the phone


@dataclass(frozen=True)
class SummaryField:
    key: str
    label: str
    voice: str  # template with {value}; empty: not read on the phone


@dataclass(frozen=True)
class SummaryWording:
    title: str
    reference: str  # {reference}
    scam_type: str  # {name}
    missing: str  # {labels}
    approximately: str
    voice_intro: str
    voice_scam_type: str  # {name}
    voice_digits: tuple[str, ...]  # how 0–9 are said, one each
    fields: tuple[SummaryField, ...]
    sms: str  # {summary}


@dataclass(frozen=True)
class Procedures:
    situations: dict[str, Situation]
    evidence_general: tuple[str, ...]
    evidence_voice: str
    payment_channels: dict[str, PaymentChannel]
    case_summary: SummaryWording
    do_not: tuple[str, ...]
    recovery_warning: str
    sensitive_warning: str


@dataclass(frozen=True)
class Example:
    text: str
    label: str
    kind: str
    # Which round of writing it came from: "batch1" for examples/*.yml, else its subfolder's name
    # (examples/batch2/ …). The bench keeps a fixed test set across rounds with it; training ignores it.
    batch: str = "batch1"


@dataclass(frozen=True)
class Knowledge:
    scam_types: dict[str, ScamType]
    shared_flags: dict[str, RedFlag]
    contacts: dict[str, Contact]
    procedures: Procedures
    faqs: dict[str, Faq]
    examples: tuple[Example, ...] = field(repr=False)
    calm_signs: dict[str, CalmSign] = field(default_factory=dict)  # signs of a warning or a plain notice
    negation: Negation | None = None  # None: a negation never cancels a red flag

    def flag(self, flag_id: str, scam_type: str | None = None) -> RedFlag | None:
        """A type's own flag, or a shared one."""
        if scam_type and scam_type in self.scam_types:
            for flag in self.scam_types[scam_type].red_flags:
                if flag.id == flag_id:
                    return flag
        return self.shared_flags.get(flag_id)


# --- field readers: each names the file and field it complains about -----------------


class _Reader:
    def __init__(self, path: Path, data: Any, where: str = "") -> None:
        self.path = path
        self.data = data
        self.where = where

    def _name(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def fail(self, key: str, reason: str) -> KnowledgeError:
        return KnowledgeError(self.path, self._name(key), reason)

    def child(self, key: str, kind: type = dict) -> "_Reader":
        value = self.data.get(key) if isinstance(self.data, dict) else None
        if not isinstance(value, kind):
            raise self.fail(key, f"must be a {'mapping' if kind is dict else 'list'}")
        return _Reader(self.path, value, self._name(key))

    def text(self, key: str, optional: bool = False) -> str:
        value = self.data.get(key)
        if value is None and optional:
            return ""
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)
        if isinstance(value, datetime.date):  # YAML reads an unquoted 2025-06-18 as a date
            value = value.isoformat()
        if not isinstance(value, str) or not value.strip():
            raise self.fail(key, "must be a non-empty text")
        return value.strip()

    def ident(self, key: str) -> str:
        value = self.text(key)
        if not _ID.match(value):
            raise self.fail(key, f"'{value}' must be lower_snake_case")
        return value

    def texts(self, key: str, optional: bool = False, minimum: int = 1) -> tuple[str, ...]:
        value = self.data.get(key)
        if optional and (value is None or value == []):
            return ()
        if not isinstance(value, list) or len(value) < minimum:
            raise self.fail(key, f"must be a list of at least {minimum} texts")
        out = []
        for i, item in enumerate(value):
            if isinstance(item, (int, float)) and not isinstance(item, bool):
                item = str(item)
            if not isinstance(item, str) or not item.strip():
                raise self.fail(f"{key}[{i}]", "must be a non-empty text")
            out.append(item.strip())
        return tuple(out)

    def number(self, key: str, low: float, high: float) -> float:
        value = self.data.get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
            raise self.fail(key, f"must be a number from {low} to {high}")
        return float(value)

    def items(self, key: str) -> Iterable["_Reader"]:
        listing = self.child(key, list)
        for i, item in enumerate(listing.data):
            if not isinstance(item, dict):
                raise KnowledgeError(self.path, f"{listing.where}[{i}]", "must be a mapping")
            yield _Reader(self.path, item, f"{listing.where}[{i}]")


def parse_yaml(text: str) -> Any:
    """Safe YAML parsing (no Python objects), as ``yaml.safe_load`` but faster."""
    return yaml.load(text, Loader=_YAML_LOADER)  # noqa: S506 - a safe loader


def read_mapping(path: Path, error: type[KnowledgeError] = KnowledgeError) -> dict[str, Any]:
    """A YAML file whose top level is a mapping; anything else raises ``error`` naming the file."""
    try:
        data = parse_yaml(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise error(path, "(file)", "file is missing") from None
    except (yaml.YAMLError, UnicodeDecodeError) as problem:
        raise error(path, "(file)", f"not valid YAML: {problem}") from None
    if not isinstance(data, dict):
        raise error(path, "(file)", "must be a YAML mapping at the top level")
    return data


def _read_yaml(path: Path) -> _Reader:
    return _Reader(path, read_mapping(path))


def _source(reader: _Reader) -> Source:
    src = reader.child("source")
    date = src.text("date")
    if not re.match(r"^\d{4}-\d{2}-\d{2}$", date):
        raise src.fail("date", f"'{date}' must be a date YYYY-MM-DD")
    return Source(publisher=src.text("publisher"), title=src.text("title"), date=date)


def _red_flag(reader: _Reader, scam_type: str | None) -> RedFlag:
    flag_id = reader.ident("id")
    phrases = reader.texts("phrases", optional=True)
    patterns = _patterns(reader, "patterns")
    if not phrases and not patterns:
        raise reader.fail("phrases", "a red flag needs phrases or patterns")
    ordinary_settings = _patterns(reader, "ordinary_settings")
    severity = reader.data.get("severity", "major")
    if severity not in SEVERITIES:
        raise reader.fail("severity", f"must be one of {', '.join(SEVERITIES)}")
    keeps_negation = reader.data.get("keeps_negation", False)
    if not isinstance(keeps_negation, bool):
        raise reader.fail("keeps_negation", "must be true or false")
    skips_official_links = reader.data.get("skips_official_links", False)
    if not isinstance(skips_official_links, bool):
        raise reader.fail("skips_official_links", "must be true or false")
    return RedFlag(
        id=flag_id,
        label=reader.text("label"),
        weight=reader.number("weight", 0.0, 1.0),
        phrases=phrases,
        patterns=patterns,
        severity=severity,
        scam_type=scam_type,
        keeps_negation=keeps_negation,
        ordinary_settings=ordinary_settings,
        skips_official_links=skips_official_links,
    )


def _patterns(reader: _Reader, field_name: str) -> tuple[str, ...]:
    patterns = reader.texts(field_name, optional=True)
    for i, pattern in enumerate(patterns):
        try:
            re.compile(pattern)
        except re.error as error:
            raise reader.fail(f"{field_name}[{i}]", f"not a valid regular expression: {error}") from None
    return patterns


def load_shared_flags(path: Path) -> dict[str, RedFlag]:
    reader = _read_yaml(path)
    flags: dict[str, RedFlag] = {}
    for item in reader.items("flags"):
        flag = _red_flag(item, scam_type=None)
        if flag.id in flags:
            raise item.fail("id", f"duplicate flag id '{flag.id}'")
        flags[flag.id] = flag
    return flags


def load_calm_signs(path: Path, shared: dict[str, RedFlag]) -> dict[str, CalmSign]:
    """Signs that a text warns about scams or is a plain notice (red-flag fields, no severity)."""
    reader = _read_yaml(path)
    signs: dict[str, CalmSign] = {}
    for item in reader.items("calm_signs"):
        if "severity" in item.data:
            raise item.fail("severity", "a calm sign has no severity")
        rebuts = item.data.get("rebuts", False)
        if not isinstance(rebuts, bool):
            raise item.fail("rebuts", "must be true or false")
        flag = _red_flag(item, scam_type=None)
        if flag.id in signs or flag.id in shared:
            raise item.fail("id", f"duplicate id '{flag.id}' (calm signs and shared flags share one namespace)")
        signs[flag.id] = CalmSign(flag.id, flag.label, flag.weight, flag.phrases, flag.patterns, rebuts)
    return signs


def load_negation(path: Path) -> Negation:
    reader = _read_yaml(path)
    negators, not_negation = reader.texts("negators"), reader.texts("not_negation")
    between = reader.child("between")
    return Negation(
        negators=negators,
        not_negation=not_negation,
        modal=between.texts("modal"),
        asking=between.texts("asking"),
        who=between.texts("who"),
        doing=between.texts("doing"),
        conditions=reader.texts("conditions"),
    )


def load_scam_type(path: Path, shared: dict[str, RedFlag]) -> ScamType:
    reader = _read_yaml(path)
    code = reader.ident("code")
    if code != path.stem:
        raise reader.fail("code", f"'{code}' must match the file name '{path.stem}'")
    own: dict[str, RedFlag] = {}
    for item in reader.items("red_flags"):
        flag = _red_flag(item, scam_type=code)
        if flag.id in own:
            raise item.fail("id", f"duplicate flag id '{flag.id}'")
        own[flag.id] = flag
    if not own:
        raise reader.fail("red_flags", "needs at least one red flag")
    shared_ids = reader.texts("shared_flags", optional=True)
    for i, flag_id in enumerate(shared_ids):
        if flag_id not in shared:
            raise reader.fail(f"shared_flags[{i}]", f"unknown shared flag '{flag_id}'")
    follow_ups = []
    for item in reader.items("follow_up_questions"):
        confirms = item.ident("confirms")
        if confirms not in own and confirms not in shared:
            raise item.fail("confirms", f"unknown red flag '{confirms}'")
        ask = item.text("ask")
        follow_ups.append(FollowUp(ask=ask, voice=item.text("voice", optional=True) or ask, confirms=confirms))
    if not 2 <= len(follow_ups) <= 4:
        raise reader.fail("follow_up_questions", "needs 2 to 4 questions")
    advice = reader.child("advice")
    return ScamType(
        code=code,
        name=reader.text("name"),
        aliases=reader.texts("aliases", optional=True),
        description=reader.text("description"),
        stages=reader.texts("stages"),
        red_flags=tuple(own.values()),
        shared_flags=shared_ids,
        follow_up_questions=tuple(follow_ups),
        advice_not_paid=advice.texts("not_paid"),
        advice_paid=advice.texts("paid"),
        official_line=reader.text("official_line"),
        source=_source(reader),
        evidence=reader.texts("evidence"),
    )


def load_contacts(path: Path) -> dict[str, Contact]:
    contacts: dict[str, Contact] = {}
    for item in _read_yaml(path).items("contacts"):
        contact = Contact(
            id=item.ident("id"),
            name=item.text("name"),
            number=item.text("number", optional=True) or None,
            say=item.text("say"),
            voice=item.text("voice", optional=True) or item.text("say"),
        )
        contacts[contact.id] = contact
    return contacts


def load_procedures(path: Path) -> Procedures:
    reader = _read_yaml(path)
    _source(reader)
    situations = {}
    block = reader.child("situations")
    for name in ("money_moving_now", "already_paid", "not_paid"):
        item = block.child(name)
        situations[name] = Situation(say=item.texts("say"), voice=item.texts("voice"))
    evidence = reader.child("evidence")
    channels: dict[str, PaymentChannel] = {}
    for item in reader.items("payment_channels"):
        channel = PaymentChannel(code=item.ident("code"), name=item.text("name"), evidence=item.texts("evidence"))
        if channel.code in channels:
            raise item.fail("code", f"duplicate payment channel '{channel.code}'")
        channels[channel.code] = channel
    return Procedures(
        situations=situations,
        evidence_general=evidence.texts("general"),
        evidence_voice=evidence.text("voice"),
        payment_channels=channels,
        case_summary=_summary_wording(reader.child("case_summary")),
        do_not=reader.texts("do_not"),
        recovery_warning=reader.text("recovery_warning"),
        sensitive_warning=reader.text("sensitive_warning"),
    )


def _template(reader: _Reader, key: str, names: set[str], optional: bool = False) -> str:
    """A text with {placeholders}; only ``names`` may appear, each of them at least once."""
    value = reader.text(key, optional=optional)
    if not value:
        return value
    try:
        used = {name for _, name, _, _ in string.Formatter().parse(value) if name is not None}
    except ValueError as error:
        raise reader.fail(key, f"not a valid template: {error}") from None
    if used != names:
        wanted = ", ".join("{" + n + "}" for n in sorted(names)) or "no placeholder"
        raise reader.fail(key, f"must use exactly {wanted}")
    return value


def _summary_wording(reader: _Reader) -> SummaryWording:
    fields: list[SummaryField] = []
    for item in reader.items("fields"):
        key = item.ident("key")
        if any(f.key == key for f in fields):
            raise item.fail("key", f"duplicate field '{key}'")
        fields.append(SummaryField(key=key, label=item.text("label"), voice=_template(item, "voice", {"value"}, True)))
    digits = reader.texts("voice_digits")
    if len(digits) != 10:
        raise reader.fail("voice_digits", "must list exactly ten words, for 0 to 9")
    return SummaryWording(
        title=reader.text("title"),
        reference=_template(reader, "reference", {"reference"}),
        scam_type=_template(reader, "scam_type", {"name"}),
        missing=_template(reader, "missing", {"labels"}),
        approximately=reader.text("approximately"),
        voice_intro=reader.text("voice_intro"),
        voice_scam_type=_template(reader, "voice_scam_type", {"name"}),
        voice_digits=digits,
        fields=tuple(fields),
        sms=_template(reader, "sms", {"summary"}),
    )


def load_faqs(path: Path) -> dict[str, Faq]:
    faqs: dict[str, Faq] = {}
    for item in _read_yaml(path).items("faqs"):
        key = item.ident("key")
        if key in faqs:
            raise item.fail("key", f"duplicate key '{key}'")
        answer = item.text("answer")
        faqs[key] = Faq(
            key=key,
            question=item.text("question"),
            answer=answer,
            voice=item.text("voice", optional=True) or answer,
            source=_source(item),
        )
    return faqs


def load_examples(path: Path, labels: set[str], batch: str = "batch1") -> list[Example]:
    reader = _read_yaml(path)
    label = reader.ident("code")
    if label not in labels:
        raise reader.fail("code", f"'{label}' is not a scam type code, '{ORDINARY}' or '{ADVERT}'")
    examples = []
    for item in reader.items("examples"):
        kind = item.text("kind")
        if kind not in EXAMPLE_KINDS:
            raise item.fail("kind", f"must be one of {', '.join(EXAMPLE_KINDS)}")
        examples.append(Example(text=item.text("text"), label=label, kind=kind, batch=batch))
    return examples


_EXAMPLES_CACHE_FORMAT = 1  # bump when reading or validating an example file changes


def load_all_examples(example_dir: Path, labels: set[str]) -> list[Example]:
    """examples/*.yml (batch "batch1") and examples/<batch>/*.yml. Parsing 15,000 texts from YAML
    takes about half a second of every start, so the parsed list is also kept as JSON in the
    checker's cache, under a hash of the files' bytes and the labels: an edited file is parsed
    (and validated) again."""
    files = [(path, "batch1") for path in sorted(example_dir.glob("*.yml"))]
    for folder in sorted(p for p in example_dir.glob("*") if p.is_dir()):  # none if the folder is missing
        files += [(path, folder.name) for path in sorted(folder.glob("*.yml"))]
    digest = hashlib.sha256(json.dumps([_EXAMPLES_CACHE_FORMAT, sorted(labels)]).encode())
    for path, batch in files:
        digest.update(f"\0{path.name}\0{batch}\0".encode())
        digest.update(path.read_bytes())
    cache = filecache.CACHE_DIR / f"examples-{digest.hexdigest()[:32]}.json"
    cached = _cached_examples(cache, labels)
    if cached is not None:
        filecache.used(cache)
        return cached
    examples = [e for path, batch in files for e in load_examples(path, labels, batch)]
    rows = [[e.text, e.label, e.kind, e.batch] for e in examples]
    filecache.store(cache, lambda out: out.write(json.dumps(rows, ensure_ascii=False).encode("utf-8")))
    return examples


def _cached_examples(path: Path, labels: set[str]) -> list[Example] | None:
    try:
        rows = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):  # missing, truncated, not JSON
        return None
    if not isinstance(rows, list) or not all(
        isinstance(row, list) and len(row) == 4 and all(isinstance(v, str) for v in row)
        and row[1] in labels and row[2] in EXAMPLE_KINDS for row in rows
    ):
        return None
    return [Example(text=text, label=label, kind=kind, batch=batch) for text, label, kind, batch in rows]


def load_knowledge(directory: Path = KNOWLEDGE_DIR) -> Knowledge:
    """Read every knowledge file; raise KnowledgeError naming the first problem."""
    shared = load_shared_flags(directory / "red_flags.yml")
    calm_signs = load_calm_signs(directory / "calm_signs.yml", shared)
    type_files = sorted((directory / "scam_types").glob("*.yml"))
    if not type_files:
        raise KnowledgeError(directory / "scam_types", "(folder)", "no scam type files")
    scam_types = {t.code: t for t in (load_scam_type(p, shared) for p in type_files)}
    procedures = load_procedures(directory / "procedures.yml")
    labels = set(scam_types) | set(NOT_SCAM)
    examples = load_all_examples(directory / "examples", labels)
    return Knowledge(
        scam_types=scam_types,
        shared_flags=shared,
        contacts=load_contacts(directory / "contacts.yml"),
        procedures=procedures,
        faqs=load_faqs(directory / "faq.yml"),
        examples=tuple(examples),
        calm_signs=calm_signs,
        negation=load_negation(directory / "negation.yml"),
    )


@lru_cache(maxsize=1)
def default_knowledge() -> Knowledge:
    """The project's knowledge, loaded once per process."""
    return load_knowledge()
