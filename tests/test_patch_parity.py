"""The server with every change to Rasa in place (bot/rasa_patches/, installed together by one call)
answers exactly as stock Rasa: the same understanding of every held-out text and the same next
action, by the same policy, at every decision point of every story and conversation test.

Each side runs in a process of its own that loads the model once, as a server does: a second
load in one process adds the jieba dictionary again, which changes how some texts are cut."""
from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from typing import Any

from rasa.core.agent import Agent
from rasa.shared.core.domain import Domain
from rasa.shared.core.trackers import DialogueStateTracker

from tests.assistant import MODEL
from tests.conftest import ROOT
from tests.test_rasa_patches import holdout_texts
from tests.test_ted_shortcut import decision_points, pick, story_trackers

FAQ_INTENT = "faq"
PATCHED, STOCK = "patched", "stock"


async def understood(agent: Agent, texts: list[str]) -> list[Any]:
    """What the assistant acts on: the intent and its confidence, the entities, and for an FAQ
    question the answer chosen (the patched server chooses one only for FAQ questions)."""
    found = []
    for text in texts:
        parsed = await agent.parse_message(text)
        intent = parsed["intent"]["name"]
        faq = parsed.get("response_selector", {}).get(FAQ_INTENT, {}).get("response", {})
        entities = [(e["entity"], e["start"], e["end"], e["value"]) for e in parsed["entities"]]
        found.append((intent, round(parsed["intent"]["confidence"], 4), entities,
                      faq.get("utter_action") if intent == FAQ_INTENT else None))
    return found


def story_points(domain: Domain) -> list[DialogueStateTracker]:
    trackers = (story_trackers(domain, ROOT / "tests" / "stories", conversation_tests=True)
                + story_trackers(domain, ROOT / "stories", conversation_tests=False))
    return [point for tracker in trackers for point in decision_points(tracker, domain)]


async def answers(side: str) -> dict[str, Any]:
    if side == PATCHED:
        from bot import rasa_patches

        rasa_patches.install()
    agent = Agent.load(str(MODEL))
    texts = holdout_texts(every=1)
    return {"texts": await understood(agent, texts), "actions": [pick(agent, p) for p in story_points(agent.domain)]}


def answers_in_own_process(side: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "tests.test_patch_parity", side], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_the_patched_server_answers_exactly_as_stock_rasa() -> None:
    running = {side: answers_in_own_process(side) for side in (STOCK, PATCHED)}
    found = {}
    for side, process in running.items():
        out, err = process.communicate(timeout=600)
        assert process.returncode == 0, err[-3000:]
        found[side] = json.loads(out.strip().splitlines()[-1])
    stock, patched = found[STOCK], found[PATCHED]
    assert len(stock["texts"]) > 500 and len(stock["actions"]) > 100
    assert patched["texts"] == stock["texts"]
    assert patched["actions"] == stock["actions"]


if __name__ == "__main__":
    print(json.dumps(asyncio.run(answers(sys.argv[1])), ensure_ascii=False))
