"""A safe answer, in seconds, when the action server is down or slow.

Rasa 3.6 waits up to five minutes for a custom action and, when the call fails, goes on
without a word to the user. A resident who has just been scammed must hear "110" at once, so
every custom action call here has a time limit and a failed call answers with the domain's
``utter_action_unavailable`` (110 and 96110). Form rejections pass through unchanged.

After a failure, calls fail at once for ``RETRY_AFTER_S`` seconds instead of each waiting
for the limit again; the first call after that tries the action server again, so the
conversation goes on normally as soon as it is back. The safe answer is sent once per turn.

Every call shows the action server the shared secret FANZHA_ACTION_TOKEN in a header
(bot/services/action_token.py; the action server runs nothing without it, actions/caller_check.py).

The action server's answer is still checked against Rasa's schema, with validators built at
start: Rasa's own check first validates the schema itself, on every call, which took a fifth of
the Rasa server's time in a turn that runs a custom action. Each event is checked against the
one event schema its "event" names: the schema's ``oneOf`` would try all 23 of them, and only
the one whose ``const`` is that name can match, so the verdict is the same.
"""
from __future__ import annotations

import asyncio
import logging
import os
from functools import lru_cache
from typing import Any, Mapping

from jsonschema import ValidationError
from jsonschema.validators import validator_for
from rasa.core.actions.action import ActionBotResponse, ActionExecutionRejection, RemoteAction
from rasa.shared.core.events import BotUttered, UserUttered
from rasa.shared.exceptions import RasaException

from bot.services.action_token import ENV_ACTION_TOKEN, HEADER, action_token, header_value
from bot.services.breaker import Breaker

logger = logging.getLogger(__name__)

UNAVAILABLE_RESPONSE = "utter_action_unavailable"
ENV_TIMEOUT = "FANZHA_ACTION_TIMEOUT"
DEFAULT_TIMEOUT_S = 2.0
RETRY_AFTER_S = 5.0


def action_timeout(env: Mapping[str, str] = os.environ) -> float:
    raw = env.get(ENV_TIMEOUT, "").strip()
    if not raw:
        return DEFAULT_TIMEOUT_S
    try:
        seconds = float(raw)
    except ValueError:
        seconds = 0.0
    if not 0 < seconds <= 60:
        raise ValueError(f"{ENV_TIMEOUT} must be a number of seconds between 0 and 60, not {raw!r}")
    return seconds


_breaker = Breaker(RETRY_AFTER_S)
_limit_s = DEFAULT_TIMEOUT_S  # FANZHA_ACTION_TIMEOUT, read by install()
_caller_headers: dict[str, str] = {}  # the secret's header (FANZHA_ACTION_TOKEN), read by install()
_unguarded_run = RemoteAction.run
_rasa_validate_action_result = RemoteAction._validate_action_result


def _answered_this_turn(tracker: Any) -> bool:
    for event in reversed(tracker.events):
        if isinstance(event, UserUttered):
            return False
        if isinstance(event, BotUttered) and event.metadata.get("utter_action") == UNAVAILABLE_RESPONSE:
            return True
    return False


def _reason(error: Exception) -> str:
    if isinstance(error, asyncio.TimeoutError):
        return "no answer in time"
    if isinstance(error, ValidationError):
        return "an answer Rasa cannot use: " + error.message.split(".")[0]
    return str(error)


async def _guarded_run(self: RemoteAction, output_channel: Any, nlg: Any, tracker: Any, domain: Any) -> list:
    if self.action_endpoint is not None:
        self.action_endpoint.headers.update(_caller_headers)  # Rasa sends the endpoint's headers
    try:
        if _breaker.open():
            raise RasaException("the action server failed a moment ago")
        events = await asyncio.wait_for(
            _unguarded_run(self, output_channel, nlg, tracker, domain), timeout=_limit_s
        )
    except ActionExecutionRejection:
        raise
    except (asyncio.TimeoutError, RasaException, ValidationError) as error:
        _breaker.failed()
        logger.error("Custom action '%s' failed (%s); the user gets %s.",
                     self.name(), _reason(error), UNAVAILABLE_RESPONSE)
        if _answered_this_turn(tracker):
            return []
        return await ActionBotResponse(UNAVAILABLE_RESPONSE).run(output_channel, nlg, tracker, domain)
    _breaker.succeeded()
    return events


class ActionResultValidator:
    """Validates an action server's answer exactly as ``schema`` does, one event schema per event."""

    def __init__(self, schema: dict[str, Any]) -> None:
        events = schema["properties"]["events"]
        any_event = {key: value for key, value in events["items"].items() if key != "oneOf"}
        self._answer = self._compile({**schema, "properties": {**schema["properties"],
                                                               "events": {**events, "items": any_event}}})
        self._event = {one["properties"]["event"]["const"]: self._compile(one) for one in events["items"]["oneOf"]}

    @staticmethod
    def _compile(schema: dict[str, Any]) -> Any:
        return validator_for(schema)(schema)

    def validate(self, answer: Any) -> None:
        """Raises jsonschema's ValidationError for an answer the schema refuses."""
        self._answer.validate(answer)  # after this, "events" (if any) is a list of objects with a string "event"
        for event in answer.get("events") or []:
            if event["event"] not in self._event:
                raise ValidationError(f"{event['event']!r} is not an event Rasa knows")
            self._event[event["event"]].validate(event)


@lru_cache(maxsize=1)
def _response_validator() -> ActionResultValidator:
    return ActionResultValidator(RemoteAction.action_response_format_spec())


def _validate_action_result(self: RemoteAction, result: dict[str, Any]) -> bool:
    try:
        _response_validator().validate(result)
    except ValidationError as error:
        error.message += ". Failed to validate the action server's response."
        raise
    return True


def install() -> None:
    """Guard every custom action call in this process (idempotent)."""
    global _limit_s, _caller_headers
    _limit_s = action_timeout()  # read once: a bad setting stops the server at start
    token = action_token()
    if not token:
        logger.warning("%s is not set: the action server refuses every custom action, and residents get %s.",
                       ENV_ACTION_TOKEN, UNAVAILABLE_RESPONSE)
    _caller_headers = {HEADER: header_value(token)} if token else {}
    RemoteAction.run = _guarded_run  # type: ignore[method-assign]
    RemoteAction._validate_action_result = _validate_action_result  # type: ignore[method-assign]


def uninstall() -> None:
    RemoteAction.run = _unguarded_run  # type: ignore[method-assign]
    RemoteAction._validate_action_result = _rasa_validate_action_result  # type: ignore[method-assign]
