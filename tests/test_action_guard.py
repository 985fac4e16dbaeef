"""A custom action that cannot run still gets the resident a safe answer, in time."""
from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from aiohttp import web
from rasa.core.actions.action import RemoteAction
from rasa.core.channels.channel import CollectingOutputChannel
from rasa.core.nlg import TemplatedNaturalLanguageGenerator
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (
    ActionExecuted,
    ActionExecutionRejected,
    ActionReverted,
    ActiveLoop,
    AgentUttered,
    AllSlotsReset,
    BotUttered,
    ConversationPaused,
    ConversationResumed,
    DefinePrevUserUtteredFeaturization,
    EntitiesAdded,
    FollowupAction,
    LoopInterrupted,
    ReminderCancelled,
    ReminderScheduled,
    Restarted,
    SessionStarted,
    SlotSet,
    UserUtteranceReverted,
    UserUttered,
)
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.utils.endpoints import EndpointConfig

from bot.rasa_patches import action_guard
from bot.services.breaker import Breaker
from tests.conftest import ROOT
from tests.stand_in import serving


@pytest.fixture(scope="module")
def domain() -> Domain:
    return Domain.load(str(ROOT / "bot" / "domain"))


@pytest.fixture(autouse=True)
def guarded(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    action_guard.install()
    monkeypatch.setattr(action_guard, "_breaker", Breaker(action_guard.RETRY_AFTER_S))
    yield
    action_guard.uninstall()  # other tests get Rasa's RemoteAction as it is


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def run_check(domain: Domain, url: str, tracker: DialogueStateTracker | None = None) -> tuple[list, float]:
    tracker = tracker or DialogueStateTracker.from_events("resident", [UserUttered("有人让我转到安全账户")])
    action = RemoteAction("action_check_scam", EndpointConfig(url))
    started = time.monotonic()
    events = await action.run(CollectingOutputChannel(), TemplatedNaturalLanguageGenerator(domain.responses),
                              tracker, domain)
    return events, time.monotonic() - started


def assert_safe_answer(events: list) -> None:
    texts = [e.text for e in events if isinstance(e, BotUttered)]
    assert len(texts) == 1
    assert "110" in texts[0] and "96110" in texts[0]


class ActionServer:
    """A stand-in action server whose behaviour the test sets: answer, hang, or fail."""

    url: str  # set once it listens

    def __init__(self) -> None:
        self.mode = "answer"
        self.calls = 0

    async def webhook(self, request: web.Request) -> web.Response:
        self.calls += 1
        if self.mode == "hang":
            await asyncio.sleep(30)
        if self.mode == "fail":
            return web.Response(status=500, text="boom")
        if self.mode == "malformed":
            return web.json_response({"events": [{"event": "slot", "name": 7}], "responses": "不是列表"})
        return web.json_response({"events": [{"event": "slot", "name": "risk", "value": "high"}],
                                  "responses": [{"text": "高风险：这是冒充公检法诈骗。"}]})


@pytest.fixture
async def action_server() -> Any:
    server = ActionServer()
    async with serving("/webhook", server.webhook) as url:
        server.url = f"{url}/webhook"
        yield server


async def test_no_action_server_gets_the_safe_answer_at_once(domain: Domain) -> None:
    events, seconds = await run_check(domain, f"http://127.0.0.1:{closed_port()}/webhook")
    assert_safe_answer(events)
    assert seconds < 1


async def test_a_hanging_action_server_gets_the_safe_answer_within_the_limit(domain: Domain, action_server: ActionServer) -> None:
    action_server.mode = "hang"
    events, seconds = await run_check(domain, action_server.url)
    assert_safe_answer(events)
    assert action_guard.DEFAULT_TIMEOUT_S <= seconds < 3


async def test_an_action_server_error_gets_the_safe_answer(domain: Domain, action_server: ActionServer) -> None:
    action_server.mode = "fail"
    events, _ = await run_check(domain, action_server.url)
    assert_safe_answer(events)


async def test_an_answer_that_breaks_rasas_schema_gets_the_safe_answer(domain: Domain, action_server: ActionServer) -> None:
    action_server.mode = "malformed"
    events, _ = await run_check(domain, action_server.url)
    assert_safe_answer(events)


async def test_after_a_failure_calls_answer_at_once_then_the_server_is_tried_again(
    domain: Domain, action_server: ActionServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    action_server.mode = "fail"
    await run_check(domain, action_server.url)
    action_server.mode = "answer"
    events, seconds = await run_check(domain, action_server.url)
    assert_safe_answer(events)
    assert action_server.calls == 1 and seconds < 0.5  # not waited for, not called

    monkeypatch.setattr(action_guard._breaker, "rest_s", 0.0)  # the rest is over
    events, _ = await run_check(domain, action_server.url)
    assert action_server.calls == 2
    assert SlotSet("risk", "high") in events
    assert [e.text for e in events if isinstance(e, BotUttered)] == ["高风险：这是冒充公检法诈骗。"]


async def test_the_safe_answer_is_sent_once_per_turn(domain: Domain) -> None:
    url = f"http://127.0.0.1:{closed_port()}/webhook"
    first, _ = await run_check(domain, url)
    tracker = DialogueStateTracker.from_events(
        "resident", [UserUttered("有人让我转到安全账户"), ActionExecuted("action_check_scam"), *first]
    )
    second, _ = await run_check(domain, url, tracker)
    assert second == []
    tracker.update(UserUttered("那我该怎么办"))
    third, _ = await run_check(domain, url, tracker)
    assert_safe_answer(third)


@pytest.mark.parametrize("value", ["0", "-1", "abc", "61"])
def test_a_bad_timeout_setting_is_refused_with_its_name(value: str) -> None:
    with pytest.raises(ValueError, match=action_guard.ENV_TIMEOUT):
        action_guard.action_timeout({action_guard.ENV_TIMEOUT: value})


def test_the_timeout_setting_is_read() -> None:
    assert action_guard.action_timeout({action_guard.ENV_TIMEOUT: "1.5"}) == 1.5
    assert action_guard.action_timeout({}) == action_guard.DEFAULT_TIMEOUT_S


def _events() -> list[dict[str, Any]]:
    """One event of each kind a custom action can return, as the action server sends them."""
    parse_data = {"intent": {"name": "check_situation", "confidence": 0.9}, "entities": [
        {"entity": "amount", "value": "5000", "start": 0, "end": 4}], "text": "转了5000",
        "response_selector": {"all_retrieval_intents": ["faq"]}}
    return [event.as_dict() for event in (
        UserUttered("转了5000", parse_data["intent"], parse_data["entities"], parse_data),
        ActionExecuted("action_check_scam", policy="RulePolicy", confidence=1.0),
        SlotSet("risk", {"level": "high", "flags": ["安全账户"]}),
        BotUttered("请马上拨打110。", {"buttons": [{"title": "好", "payload": "/affirm"}]}, {"utter_action": "utter_x"}),
        ActiveLoop("report_form"), ActiveLoop(None), FollowupAction("action_handoff"), Restarted(), AllSlotsReset(),
        SessionStarted(), ConversationPaused(), ConversationResumed(), UserUtteranceReverted(), ActionReverted(),
        ReminderScheduled("EXTERNAL_x", datetime(2030, 1, 1)), ReminderCancelled(name="r"),
        ActionExecutionRejected("report_form"), LoopInterrupted(True), EntitiesAdded([{"entity": "amount", "value": "1"}]),
        AgentUttered("hi"), DefinePrevUserUtteredFeaturization(False),
    )]


def _answers() -> list[Any]:
    valid = [{"events": [event], "responses": [{"text": "好"}]} for event in _events()]
    broken = [
        {"events": [{"event": "slot", "name": "risk"}]},  # no value
        {"events": [{"event": "slot", "name": 3, "value": 1}]},
        {"events": [{"event": "no_such_event"}]},
        {"events": [{"event": 7}]},
        {"events": [{"name": "risk", "value": 1}]},  # no event name
        {"events": [{"event": "bot", "timestamp": "now"}]},
        {"events": [{"event": "user", "parse_data": {"entities": [{"start": 0}]}}]},
        {"events": [{"event": "entities"}]},
        {"events": ["slot"]},
        {"events": {"event": "slot"}},
        {"responses": "好"},
        {"responses": ["好"]},
        [],
        "好",
    ]
    return [*valid, {"events": _events()}, {}, {"events": []}, {"events": [], "responses": []}, *broken]


@pytest.mark.parametrize("answer", _answers())
def test_the_event_by_event_check_agrees_with_rasas_schema(answer: Any) -> None:
    from jsonschema import ValidationError
    from jsonschema.validators import validator_for

    schema = RemoteAction.action_response_format_spec()
    expected = validator_for(schema)(schema).is_valid(answer)
    try:
        action_guard.ActionResultValidator(schema).validate(answer)
        valid = True
    except ValidationError:
        valid = False
    assert valid == expected


def test_the_answers_compared_include_valid_and_broken_ones() -> None:
    from jsonschema.validators import validator_for

    schema = RemoteAction.action_response_format_spec()
    verdicts = [validator_for(schema)(schema).is_valid(answer) for answer in _answers()]
    assert verdicts.count(True) > 20 and verdicts.count(False) > 10
