"""What a finished report gives the resident: the 报案材料摘要, the evidence checklist, the recovery warning.

Pure functions of what the report form collected. Every word comes from procedures.yml
(``case_summary``, ``payment_channels``, ``evidence``) and scam_types/*.yml (``evidence``).

Field values: ``None``, blank or missing means the question was not asked (left out);
``SKIPPED`` means the resident was asked and did not know or chose not to say (listed as
not provided, so the police know to ask).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from knowledge.amounts import format_yuan, parse_amount
from knowledge.loader import Knowledge, SummaryWording, default_knowledge
from knowledge.privacy import mask_sensitive
from knowledge.spoken import digits_aloud, group_digits, yuan_aloud

TEXT, VOICE = "text", "voice"
CHANNEL_KINDS = (TEXT, VOICE)
SKIPPED = "skipped"
# 45 seconds of speech at about four Chinese characters a second.
VOICE_MAX_CHARS = 180
# The summary is a summary: the full story stays in the stored report.
STORY_MAX_CHARS = 150
# Fields whose value is, by the form's question, the account the money went to: mask_sensitive
# keeps a receiving card number when the words around it say so.
RECEIVING_FIELDS = frozenset({"receiving_account"})
_RECEIVING_CONTEXT = "收款"
_APPROXIMATE = re.compile(r"多|左右|大概|大约|约|差不多|上下")

FieldValue = Any  # str, a list of str (payment channels), SKIPPED or None
Fields = Mapping[str, FieldValue]


@dataclass(frozen=True)
class CaseTexts:
    summary: str
    evidence: tuple[str, ...]
    recovery_warning: str
    missing: tuple[str, ...]  # labels of the questions the resident skipped


def _kb(kb: Knowledge | None) -> Knowledge:
    return kb or default_knowledge()


def _check_kind(channel_kind: str) -> str:
    if channel_kind not in CHANNEL_KINDS:
        raise ValueError(f"channel kind must be one of {', '.join(CHANNEL_KINDS)}, not {channel_kind!r}")
    return channel_kind


def field_keys(kb: Knowledge | None = None) -> tuple[str, ...]:
    """The fields the report form collects, in summary order."""
    return tuple(f.key for f in _kb(kb).procedures.case_summary.fields)


def is_given(value: FieldValue) -> bool:
    if value is None or value == SKIPPED:
        return False
    if isinstance(value, (list, tuple)):
        return any(is_given(v) for v in value)
    return bool(str(value).strip())


def _mask_text(key: str, text: str) -> str:
    if key not in RECEIVING_FIELDS:
        return mask_sensitive(text).text
    # Each listed account ("6222…，还有一张6217…") is a receiving one: mask piece by piece, each
    # read as "收款…" so that its card number stays and any code or password in it goes.
    pieces = re.split(r"([，,；;、\s]+|和|及)", text)
    return "".join(
        piece if i % 2 else mask_sensitive(_RECEIVING_CONTEXT + piece).text[len(_RECEIVING_CONTEXT) :]
        for i, piece in enumerate(pieces)
    )


def mask_report_fields(fields: Fields) -> dict[str, FieldValue]:
    """Every value through mask_sensitive: no verification code, password, PIN, CVV, ID number or
    own card number survives; the receiving account is kept (the police need it to stop payment)."""
    masked: dict[str, FieldValue] = {}
    for key, value in fields.items():
        if value is None or value == SKIPPED:
            masked[key] = value
        elif isinstance(value, (list, tuple)):
            masked[key] = [_mask_text(key, str(v)) for v in value if v is not None]
        else:
            masked[key] = _mask_text(key, str(value))
    return masked


def payment_channel_codes(value: FieldValue, kb: Knowledge | None = None) -> list[str]:
    """Known channel codes in ``value`` (codes or the Chinese names from procedures.yml)."""
    channels = _kb(kb).procedures.payment_channels
    by_name = {c.name: c.code for c in channels.values()}
    values = value if isinstance(value, (list, tuple)) else [value]
    codes = []
    for item in values:
        code = item if item in channels else by_name.get(str(item).strip()) if is_given(item) else None
        if code and code not in codes:
            codes.append(code)
    return codes


def _one_line(value: FieldValue) -> str:
    text = "、".join(str(v) for v in value) if isinstance(value, (list, tuple)) else str(value)
    return re.sub(r"\s+", " ", text).strip()


def _amount(value: str, wording: SummaryWording, voice: bool) -> str:
    yuan = parse_amount(value)
    if yuan is None:
        return digits_aloud(value, wording.voice_digits) if voice else value
    prefix = wording.approximately if _APPROXIMATE.search(value) else ""
    return prefix + (yuan_aloud(yuan) if voice else format_yuan(yuan))


def _channel_names(value: FieldValue, kb: Knowledge) -> str:
    channels = kb.procedures.payment_channels
    values = value if isinstance(value, (list, tuple)) else [value]
    names = []
    for item in values:
        if not is_given(item):
            continue
        codes = payment_channel_codes(item, kb)
        name = channels[codes[0]].name if codes else _one_line(item)
        if name not in names:
            names.append(name)
    return "、".join(names)


def _display(key: str, value: FieldValue, kb: Knowledge, voice: bool) -> str:
    wording = kb.procedures.case_summary
    if key == "payment_channel":
        return _channel_names(value, kb)
    text = _one_line(value)
    if key == "amount":
        return _amount(text, wording, voice)
    if voice:
        return digits_aloud(text, wording.voice_digits)
    if key == "story" and len(text) > STORY_MAX_CHARS:
        text = text[:STORY_MAX_CHARS] + "…"
    return group_digits(text)


def _scam_name(scam_type: str | None, kb: Knowledge) -> str | None:
    if not scam_type:
        return None
    if scam_type not in kb.scam_types:
        raise ValueError(f"unknown scam type {scam_type!r}")
    return kb.scam_types[scam_type].name


def missing_labels(fields: Fields, kb: Knowledge | None = None) -> tuple[str, ...]:
    """Labels of the questions the resident was asked and skipped."""
    return tuple(f.label for f in _kb(kb).procedures.case_summary.fields if fields.get(f.key) == SKIPPED)


def case_summary(
    fields: Fields,
    scam_type: str | None,
    channel_kind: str = TEXT,
    reference: str | None = None,
    kb: Knowledge | None = None,
) -> str:
    """The 报案材料摘要: one line per answer on text; at most VOICE_MAX_CHARS characters on voice,
    amounts as words and long numbers digit by digit (the least important answers give way)."""
    kb = _kb(kb)
    wording = kb.procedures.case_summary
    fields = mask_report_fields(fields)
    name = _scam_name(scam_type, kb)
    if _check_kind(channel_kind) == VOICE:
        return _voice_summary(fields, name, kb)
    lines = [wording.title]
    if reference:
        lines.append(wording.reference.format(reference=reference))
    if name:
        lines.append(wording.scam_type.format(name=name))
    for spec in wording.fields:
        value = fields.get(spec.key)
        if is_given(value):
            lines.append(f"{spec.label}：{_display(spec.key, value, kb, voice=False)}")
    missing = missing_labels(fields, kb)
    if missing:
        lines.append(wording.missing.format(labels="、".join(missing)))
    return "\n".join(lines)


def _voice_summary(fields: Fields, scam_name: str | None, kb: Knowledge) -> str:
    wording = kb.procedures.case_summary
    parts = [
        spec.voice.format(value=_display(spec.key, fields[spec.key], kb, voice=True))
        for spec in wording.fields
        if spec.voice and is_given(fields.get(spec.key))
    ]
    if scam_name:
        parts.append(wording.voice_scam_type.format(name=scam_name))
    said: list[str] = []
    for part in parts:
        candidate = wording.voice_intro + "，".join(said + [part]) + "。"
        if len(candidate) <= VOICE_MAX_CHARS:
            said.append(part)
    return wording.voice_intro + "，".join(said) + "。"


def _unique(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


def evidence_checklist(
    fields: Fields, scam_type: str | None, channel_kind: str = TEXT, kb: Knowledge | None = None
) -> tuple[str, ...]:
    """What to bring to the police: the payment channel's items, the scam type's, then the general
    ones. On voice: the first (most important) item of each, and the one general line."""
    kb = _kb(kb)
    procedures = kb.procedures
    channels = [procedures.payment_channels[c] for c in payment_channel_codes(fields.get("payment_channel"), kb)]
    scam = kb.scam_types[scam_type] if scam_type and _scam_name(scam_type, kb) else None
    if _check_kind(channel_kind) == VOICE:
        firsts = [c.evidence[0] for c in channels] + ([scam.evidence[0]] if scam else [])
        return _unique(firsts + [procedures.evidence_voice])
    items: list[str] = [item for c in channels for item in c.evidence]
    if scam:
        items += scam.evidence
    return _unique(items + list(procedures.evidence_general))


def recovery_warning(channel_kind: str = TEXT, kb: Knowledge | None = None) -> str:
    """Anyone who offers to recover the money for a fee is the second scam."""
    _check_kind(channel_kind)  # one short sentence, the same on both channels
    return _kb(kb).procedures.recovery_warning


def sms_text(fields: Fields, scam_type: str | None, reference: str, kb: Knowledge | None = None) -> str:
    """The text summary with its reference number, in the SMS wording; nothing else."""
    kb = _kb(kb)
    summary = case_summary(fields, scam_type, TEXT, reference=reference, kb=kb)
    return kb.procedures.case_summary.sms.format(summary=summary)


def build_case_texts(
    fields: Fields,
    scam_type: str | None,
    channel_kind: str = TEXT,
    reference: str | None = None,
    kb: Knowledge | None = None,
) -> CaseTexts:
    """Everything the report form says at the end, for one channel kind."""
    kb = _kb(kb)
    return CaseTexts(
        summary=case_summary(fields, scam_type, channel_kind, reference, kb),
        evidence=evidence_checklist(fields, scam_type, channel_kind, kb),
        recovery_warning=recovery_warning(channel_kind, kb),
        missing=missing_labels(fields, kb),
    )
