"""The FAQ answer is chosen only for FAQ questions, and then exactly as before."""
from __future__ import annotations

from typing import Any

import pytest
from rasa.core.agent import Agent

from tests.test_rasa_patches import holdout_texts


@pytest.fixture(scope="module")
def parsed(plain_serving_agent: Agent, shortcut_serving_agent: Agent) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """Each held-out text parsed by the server's loader without and with the FAQ shortcut."""
    import asyncio

    plain, shortcut = plain_serving_agent, shortcut_serving_agent

    async def parse_all() -> list[tuple[dict[str, Any], dict[str, Any]]]:
        return [(await plain.parse_message(text), await shortcut.parse_message(text)) for text in holdout_texts(every=2)]

    return asyncio.run(parse_all())


def classified(parse: dict[str, Any]) -> str:
    """The intent the classifier gave, which the selector sees: Rasa's FallbackClassifier runs
    after it and may put nlu_fallback above it."""
    return next(ranked["name"] for ranked in parse["intent_ranking"] if ranked["name"] != "nlu_fallback")


def test_faq_questions_get_the_same_answer_and_ranking(parsed: list[tuple[dict[str, Any], dict[str, Any]]]) -> None:
    faq = [(before, after) for before, after in parsed if classified(before) == "faq"]
    assert len(faq) > 20
    assert [after for _, after in faq] == [before for before, _ in faq]
    assert all(after["response_selector"]["faq"]["response"]["utter_action"].startswith("utter_faq/") for _, after in faq)


def test_other_messages_keep_intent_and_entities_and_skip_the_faq_choice(
        parsed: list[tuple[dict[str, Any], dict[str, Any]]]) -> None:
    others = [(before, after) for before, after in parsed if classified(before) != "faq"]
    assert len(others) > 60
    for before, after in others:
        assert "faq" in before["response_selector"]  # Rasa's selector chose an answer nobody reads
        assert after["response_selector"] == {"all_retrieval_intents": before["response_selector"]["all_retrieval_intents"]}
        assert {**after, "response_selector": None} == {**before, "response_selector": None}
