"""What the assistant says about the links, numbers and accounts in a message and their
risk-list entries (wording in knowledge/lookup.yml, findings in knowledge/indicators.yml).

Hits come from the centre's risk list (bot/services/risklist.py); this module only needs their
fields, so it stays free of bot/ imports.
"""
from __future__ import annotations

import datetime
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Mapping, Protocol, Sequence

from .indicators import KINDS, Indicator
from .loader import KNOWLEDGE_DIR, _read_yaml, _source, _template
from .spoken import digits_aloud

LOOKUP_FILE = KNOWLEDGE_DIR / "lookup.yml"
RISKS = ("none", "low", "medium", "high")
MAX_LINES = 3  # more would bury the first, most important one
MAX_VOICE_LINES = 2


class Hit(Protocol):
    # Read-only, so that frozen dataclasses (bot.services.risklist.RiskHit) are Hits.
    @property
    def level(self) -> str: ...
    @property
    def source(self) -> str: ...
    @property
    def listed_on(self) -> datetime.date: ...
    @property
    def scam_type(self) -> str | None: ...


@dataclass(frozen=True)
class LookupTexts:
    kind_names: Mapping[str, str]
    line: str
    voice_line: str
    nothing_seen: str
    risk_hit: str
    risk_hit_scam: str
    levels: Mapping[str, str]
    not_on_list: str
    list_unavailable: str
    more: str
    message_heading: str
    voice_message_heading: str
    contact_heading: str
    voice_contact_heading: str
    advice_suspicious: str
    voice_advice_suspicious: str
    advice_unknown: str
    voice_advice_unknown: str
    ask_for_value: str
    voice_ask_for_value: str
    card_was_masked: str


def load_lookup_texts(path: Path = LOOKUP_FILE) -> LookupTexts:
    reader = _read_yaml(path)
    _source(reader)
    kinds, levels = reader.child("kind_names"), reader.child("levels")

    def plain(key: str) -> str:
        return _template(reader, key, set())

    return LookupTexts(
        kind_names={kind: kinds.text(kind) for kind in KINDS},
        line=_template(reader, "line", {"kind", "text", "says"}),
        voice_line=_template(reader, "voice_line", {"kind", "text", "says"}),
        nothing_seen=_template(reader, "nothing_seen", {"kind"}),
        risk_hit=_template(reader, "risk_hit", {"source", "level", "date"}),
        risk_hit_scam=_template(reader, "risk_hit_scam", {"scam"}),
        levels={level: levels.text(level) for level in RISKS[1:]},
        not_on_list=plain("not_on_list"),
        list_unavailable=plain("list_unavailable"),
        more=_template(reader, "more", {"count"}),
        message_heading=plain("message_heading"),
        voice_message_heading=plain("voice_message_heading"),
        contact_heading=plain("contact_heading"),
        voice_contact_heading=plain("voice_contact_heading"),
        advice_suspicious=plain("advice_suspicious"),
        voice_advice_suspicious=plain("voice_advice_suspicious"),
        advice_unknown=plain("advice_unknown"),
        voice_advice_unknown=plain("voice_advice_unknown"),
        ask_for_value=plain("ask_for_value"),
        voice_ask_for_value=plain("voice_ask_for_value"),
        card_was_masked=plain("card_was_masked"),
    )


@lru_cache(maxsize=1)
def lookup_texts() -> LookupTexts:
    return load_lookup_texts()


@dataclass(frozen=True)
class Looked:
    """An indicator and what the risk list says of it (``hits`` is None: not looked up)."""

    indicator: Indicator
    hits: tuple[Hit, ...] | None

    @property
    def worrying(self) -> bool:
        return self.indicator.suspicious or bool(self.hits)


def raised_risk(risk: str, looked: Sequence[Looked]) -> str:
    """The checker's risk, raised to what the message's links, numbers and accounts show:
    at least low for a suspicious shape, at least the level of a risk-list entry."""
    levels = [risk] + [h.level for item in looked for h in item.hits or () if h.level in RISKS]
    if any(item.indicator.suspicious for item in looked):
        levels.append("low")
    return max(levels, key=RISKS.index)


@dataclass(frozen=True)
class Speaker:
    """Says the look-up on one channel: the phone line gets the short sentences, fewer of
    them, and every number digit by digit."""

    voice: bool
    digit_words: Sequence[str]
    scam_names: Mapping[str, str]  # scam type code -> name, for risk-list entries
    texts: LookupTexts

    def say(self, text: str) -> str:
        return digits_aloud(text, self.digit_words) if self.voice else text

    def lines(self, looked: Sequence[Looked]) -> list[str]:
        """One line per indicator, the worrying first; the risk list's answer once."""
        t = self.texts
        ordered = sorted(looked, key=lambda item: (not item.indicator.suspicious, not item.hits,
                                                   item.indicator.start))
        shown = ordered[: MAX_VOICE_LINES if self.voice else MAX_LINES]
        out = [self._line(item) for item in shown]
        if len(ordered) > len(shown) and not self.voice:
            out.append(t.more.format(count=len(ordered) - len(shown)))
        if any(item.hits is None for item in looked):
            out.append(t.list_unavailable)
        elif any(not item.hits for item in looked):
            out.append(t.not_on_list)
        return [self.say(line) for line in out]

    def _line(self, item: Looked) -> str:
        t, indicator = self.texts, item.indicator
        kind = t.kind_names[indicator.kind]
        findings = sorted(indicator.findings, key=lambda f: not f.suspicious)[:2]
        parts = [(f.voice if self.voice else f.says) for f in findings] or [t.nothing_seen.format(kind=kind)]
        for hit in item.hits or ():
            date = f"{hit.listed_on.year}年{hit.listed_on.month}月{hit.listed_on.day}日"
            parts.append(t.risk_hit.format(source=hit.source, level=t.levels.get(hit.level, hit.level), date=date))
            if hit.scam_type:
                parts.append(t.risk_hit_scam.format(scam=self.scam_names.get(hit.scam_type, hit.scam_type)))
        shown = indicator.text
        if self.voice and indicator.kind == "link":
            shown = indicator.value.split("/", 1)[0]  # the site's name, not a whole address read out
        template = t.voice_line if self.voice else t.line
        return template.format(kind=kind, text=shown, says="".join(parts))

    def message_section(self, looked: Sequence[Looked]) -> str:
        """What a checked message holds, under the verdict."""
        heading = self.texts.voice_message_heading if self.voice else self.texts.message_heading
        return "\n".join([heading, *self.lines(looked)])

    def contact_answer(self, looked: Sequence[Looked]) -> str:
        """The answer to "这个号码/链接靠谱吗"."""
        t = self.texts
        heading = t.voice_contact_heading if self.voice else t.contact_heading
        if any(item.worrying for item in looked):
            advice = t.voice_advice_suspicious if self.voice else t.advice_suspicious
        else:
            advice = t.voice_advice_unknown if self.voice else t.advice_unknown
        return "\n".join([heading, *self.lines(looked), self.say(advice)])

    def ask_for_value(self) -> str:
        return self.texts.voice_ask_for_value if self.voice else self.texts.ask_for_value
