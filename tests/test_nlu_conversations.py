"""Conversations that went wrong through the REST channel are now understood as they should be.

`make conversation-tests` runs `rasa test core` without --e2e, which takes the intents written in
tests/stories as given. This checks what the model makes of the residents' own words, after the
channel's cleaning (bot/channels/masking.py), as the REST channel passes them to Rasa.
"""
from __future__ import annotations

import asyncio

import pytest
from rasa.core.agent import Agent

from bot.channels.masking import clean_text

CONVERSATIONS = [
    # A video call "from a friend" asking for money: the AI face-swap answer, not the app install.
    ("朋友跟我视频通话借钱，声音和样子都像他本人，是真的吗", "faq", "faq/ai_face_swap"),
    # The bank's "customer service" wants the password: never give it (was the fallback).
    ("银行客服打电话让我把密码告诉他，要给吗", "faq", "faq/password_share"),
    ("银行客服打电话让我把密码告诉他要给吗", "faq", "faq/password_share"),  # as speech recognition writes it
    # A described situation goes to the checker, not to an FAQ answer.
    ("客服说我开通了百万保障，让我下载会议软件共享屏幕", "check_situation", None),
]


@pytest.mark.parametrize("text, intent, faq_key", CONVERSATIONS)
def test_the_resident_gets_the_right_kind_of_answer(plain_serving_agent: Agent, text: str, intent: str,
                                                    faq_key: str | None) -> None:
    cleaned, notes = clean_text(text)
    assert not notes  # nothing in these messages is a secret
    parsed = asyncio.run(plain_serving_agent.parse_message(cleaned))
    assert parsed["intent"]["name"] == intent
    if faq_key:
        assert parsed["response_selector"]["faq"]["response"]["intent_response_key"] == faq_key
