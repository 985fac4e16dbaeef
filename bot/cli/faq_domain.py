"""Write the FAQ answers from knowledge/faq.yml as Rasa retrieval responses.

Rasa's ResponseSelector answers through ``utter_faq/<key>`` responses in the domain. The
answers themselves live once, in knowledge/faq.yml; this writes the generated domain file
that `make` builds before training (it is not kept in git).

    python -m bot.cli.faq_domain bot/domain/faq_answers.yml
"""
from __future__ import annotations

import sys
from pathlib import Path

import yaml

from knowledge.loader import KNOWLEDGE_DIR, load_faqs

VOICE_CHANNEL = "voice"


def faq_domain(faq_path: Path = KNOWLEDGE_DIR / "faq.yml") -> dict:
    responses = {}
    for faq in load_faqs(faq_path).values():
        variants = [{"text": faq.answer}]
        if faq.voice != faq.answer:
            variants.append({"text": faq.voice, "channel": VOICE_CHANNEL})
        responses[f"utter_faq/{faq.key}"] = variants
    return {"version": "3.1", "intents": ["faq"], "responses": responses}


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m bot.cli.faq_domain OUTPUT.yml", file=sys.stderr)
        return 2
    header = "# Generated from knowledge/faq.yml by bot/cli/faq_domain.py: edit that file, not this one.\n"
    body = yaml.safe_dump(faq_domain(), allow_unicode=True, sort_keys=False, width=1000)
    Path(argv[0]).write_text(header + body, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
