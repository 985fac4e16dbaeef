"""Read `rasa data validate` output on stdin; print the warnings that are real problems.

Rasa 3.6 warns "The utterance X is not used in any story or rule" for responses that stories
never name but that are used all the same: a form's questions (`utter_ask_<slot>`, and our
`utter_reask_<slot>` for the second try) and responses that custom actions (or bot/) send by name.
Those are dropped here only when the domain and actions/ show that use; anything else stays.
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
UNUSED = re.compile(r"The utterance '([^']+)' is not used in any story or rule")
ALWAYS_IGNORED = (
    # A retrieval intent must be listed in the domain; Rasa's importer then adds it again.
    "duplicated intents have been found across multiple domain files: faq",
)


def form_slots() -> set[str]:
    slots: set[str] = set()
    for path in (ROOT / "bot" / "domain").glob("*.yml"):
        forms = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("forms") or {}
        for form in forms.values():
            slots.update(form.get("required_slots") or [])
    return slots


def responses_sent_by_actions() -> set[str]:
    source = "\n".join(
        p.read_text(encoding="utf-8") for folder in ("actions", "bot") for p in (ROOT / folder).rglob("*.py")
    )
    # `response="utter_x"` in actions; `X_RESPONSE = "utter_x"` where the Rasa server sends it.
    return set(re.findall(r"(?:response=|_RESPONSE = )\"(utter_[a-z0-9_/]+)\"", source))


def used_elsewhere(utterance: str, slots: set[str], sent: set[str]) -> bool:
    for prefix in ("utter_ask_", "utter_reask_"):
        if utterance.startswith(prefix) and utterance[len(prefix):] in slots:
            return True
    return utterance in sent


def main() -> int:
    slots, sent = form_slots(), responses_sent_by_actions()
    real = []
    for line in sys.stdin:
        if not re.search(r"UserWarning| WARNING | ERROR ", line) or re.search(r"DeprecationWarning|pkg_resources", line):
            continue
        if any(text in line for text in ALWAYS_IGNORED):
            continue
        unused = UNUSED.search(line)
        if unused and used_elsewhere(unused.group(1), slots, sent):
            continue
        real.append(line.rstrip())
    print("\n".join(real))
    return 0


if __name__ == "__main__":
    sys.exit(main())
