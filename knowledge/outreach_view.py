"""What the outreach demo shows about one checker verdict, as plain JSON-ready data.

The web demo, the quiz and ``fanzha demo`` all show the same thing: the risk colour, a
headline, the red flags in the text's own words (with their places, to highlight them) and
what to do. Everything worded comes from the knowledge files.
"""
from __future__ import annotations

from typing import Any

from .checker import Verdict
from .loader import Knowledge
from .outreach import Outreach


def focus_type(verdict: Verdict) -> str | None:
    """The scam type the reasons are about: the verdict's, else the most likely one."""
    if verdict.scam_type:
        return verdict.scam_type
    return next(iter(verdict.probabilities), None) if verdict.red_flags else None


def shown_flags(verdict: Verdict) -> list[Any]:
    """The reasons listed: shared techniques and the focus type's own flags, one per flag."""
    focus = focus_type(verdict)
    seen: set[str] = set()
    out = []
    for hit in sorted(verdict.red_flags, key=lambda h: (h.start, h.end)):
        if hit.scam_type not in (None, focus) or hit.flag in seen:
            continue
        seen.add(hit.flag)
        out.append(hit)
    return out


def highlight_spans(verdict: Verdict) -> list[tuple[int, int]]:
    """Every red flag's place in the text, overlapping places merged, in text order."""
    merged: list[list[int]] = []
    for start, end in sorted((h.start, h.end) for h in verdict.red_flags):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(start, end) for start, end in merged]


def verdict_view(verdict: Verdict, kb: Knowledge, outreach: Outreach, new_from: int = 0) -> dict[str, Any]:
    """The verdict as the demo shows it; flags found at or after ``new_from`` are marked new."""
    wording = outreach.verdict
    scam = kb.scam_types.get(verdict.scam_type or "")
    if scam:
        headline = wording.looks_like.format(name=scam.name)
        advice = list(scam.advice_not_paid)
    else:
        headline = wording.suspicious if verdict.risk != "none" else wording.none_found
        advice = list(kb.procedures.situations["not_paid"].say[: wording.general_advice_count])
    return {
        "risk": verdict.risk,
        "risk_colour": verdict.risk_colour,
        "scam_type": verdict.scam_type,
        "scam_name": scam.name if scam else None,
        "scam_probability": round(verdict.scam_probability, 4),
        "headline": headline,
        "official_line": scam.official_line if scam else "",
        "flags": [
            {"flag": h.flag, "label": h.label, "text": h.text, "start": h.start, "end": h.end,
             "new": h.start >= new_from}
            for h in shown_flags(verdict)
        ],
        "highlights": [list(span) for span in highlight_spans(verdict)],
        "advice": advice,
    }
