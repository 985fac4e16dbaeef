"""The FAQ answer is chosen only for messages that ask an FAQ (serving only; installed by
bot/cli/rasa_server.py).

Rasa's ResponseSelector picks the best FAQ answer for every message, whatever its intent, and
the answer's texts are stored with the message in the conversation. Only a message whose intent
is the selector's retrieval intent (``faq``) is ever answered from it: the retrieval action
``utter_faq`` follows that intent, and Rasa reads the choice only for it. For other messages the
choice cost a sixth of the server's time in a turn, and made every stored turn longer.

Here the selector runs for messages whose intent is ``faq``, exactly as before; other messages
get only the list of retrieval intents, as Rasa's output has it.
"""
from __future__ import annotations

from typing import Any

from rasa.nlu.constants import RESPONSE_SELECTOR_PROPERTY_NAME, RESPONSE_SELECTOR_RETRIEVAL_INTENTS
from rasa.nlu.selectors.response_selector import ResponseSelector
from rasa.shared.nlu.constants import INTENT, INTENT_NAME_KEY
from rasa.shared.nlu.training_data.message import Message

_process = ResponseSelector.process


def asks(selector: ResponseSelector, message: Message) -> bool:
    """Whether the message's intent is the one this selector answers (all, if it has none)."""
    if not selector.retrieval_intent:
        return True
    return (message.get(INTENT) or {}).get(INTENT_NAME_KEY) == selector.retrieval_intent


def _process_when_asked(self: ResponseSelector, messages: list[Message], *args: Any, **kwargs: Any) -> list[Message]:
    asked = [asks(self, message) for message in messages]
    _process(self, [message for message, ask in zip(messages, asked) if ask], *args, **kwargs)
    for message, ask in zip(messages, asked):
        if not ask:
            found = message.get(RESPONSE_SELECTOR_PROPERTY_NAME) or {}
            found[RESPONSE_SELECTOR_RETRIEVAL_INTENTS] = self.all_retrieval_intents
            message.set(RESPONSE_SELECTOR_PROPERTY_NAME, found, add_to_output=True)
    return messages


def install() -> None:
    """Models loaded by this process from now on select FAQ answers only when asked."""
    ResponseSelector.process = _process_when_asked  # type: ignore[method-assign]


def uninstall() -> None:
    ResponseSelector.process = _process  # type: ignore[method-assign]
