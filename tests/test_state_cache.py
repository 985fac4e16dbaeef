"""The policies share one list of dialogue states per prediction: the states and the next
actions stay exactly Rasa's."""
from __future__ import annotations

from typing import Iterator

import pytest
from rasa.core.agent import Agent
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, SlotSet, UserUtteranceReverted, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from bot.rasa_patches import state_cache
from tests.conftest import ROOT
from tests.test_ted_shortcut import decision_points, pick, played, story_trackers

# The arguments the policies pass: RulePolicy, and MemoizationPolicy and TED with the slots
# and loops that occur only in rules.
ARGUMENTS = [
    {},
    {"ignore_rule_only_turns": True, "rule_only_data": {"rule_only_slots": ["report_amount"], "rule_only_loops": ["report_form"]}},
    {"omit_unset_slots": True},
]


def story_points(domain: Domain) -> list[DialogueStateTracker]:
    trackers = (story_trackers(domain, ROOT / "tests" / "stories", conversation_tests=True)
                + story_trackers(domain, ROOT / "stories", conversation_tests=False))
    return [point for tracker in trackers for point in decision_points(tracker, domain)]


@pytest.fixture()
def cached(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(DialogueStateTracker, "past_states", state_cache.past_states_once)
    yield


def rasas(tracker: DialogueStateTracker, domain: Domain, **arguments: object) -> list:
    return state_cache._past_states(tracker, domain, **arguments)


def test_every_story_point_gets_rasas_states_again_and_again(plain_serving_agent: Agent, cached: None) -> None:
    domain = plain_serving_agent.domain
    points = story_points(domain)
    assert len(points) > 100
    for point in points:
        for arguments in ARGUMENTS:
            expected = rasas(point, domain, **arguments)
            assert point.past_states(domain, **arguments) == expected
            assert point.past_states(domain, **arguments) == expected  # from the cache


def test_each_caller_gets_its_own_copy(plain_serving_agent: Agent, cached: None) -> None:
    domain = plain_serving_agent.domain
    tracker = DialogueStateTracker.from_events("t", [ActionExecuted("action_listen"), UserUttered("你好", {"name": "greet"})],
                                               slots=domain.slots)
    for _ in range(3):  # worked out, then from the cache
        states = tracker.past_states(domain)
        assert states == rasas(tracker, domain)
        states[-1]["user"].clear()  # as RulePolicy drops the text or the intent of the last state
        states.pop(0)


@pytest.mark.parametrize("event", [
    UserUttered("你好", {"name": "greet"}),
    ActionExecuted("utter_greet"),
    SlotSet("report_amount", "五千"),
    UserUtteranceReverted(),
])
def test_states_follow_every_new_event(plain_serving_agent: Agent, cached: None, event: object) -> None:
    domain = plain_serving_agent.domain
    tracker = DialogueStateTracker.from_events(
        "t", [ActionExecuted("action_listen"), UserUttered("我被骗了", {"name": "report_scammed"}), ActionExecuted("action_listen")],
        slots=domain.slots)
    before = tracker.past_states(domain)
    tracker.update(event)
    assert tracker.past_states(domain) == rasas(tracker, domain)
    assert tracker.past_states(domain) != before or isinstance(event, SlotSet)


def test_a_tracker_from_other_events_is_not_served_the_cache(plain_serving_agent: Agent, cached: None) -> None:
    domain = plain_serving_agent.domain
    tracker = DialogueStateTracker.from_events("t", [ActionExecuted("action_listen"), UserUttered("你好", {"name": "greet"})],
                                               slots=domain.slots)
    tracker.past_states(domain)
    tracker.events = type(tracker.events)([ActionExecuted("action_listen"), UserUttered("谢谢", {"name": "thank"})])
    assert tracker.past_states(domain) == rasas(tracker, domain)
    assert "thank" in str(tracker.past_states(domain))


def test_off_script_conversations_get_the_same_next_actions_with_shared_states(plain_serving_agent: Agent) -> None:
    expected = [got for got, _ in played(plain_serving_agent, plain_serving_agent, turns=60)]
    state_cache.install()
    try:
        with_cache = [got for got, _ in played(plain_serving_agent, plain_serving_agent, turns=60)]
    finally:
        state_cache.uninstall()
    assert with_cache == expected
    assert len(expected) > 60


def test_story_points_get_the_same_next_actions_with_shared_states(plain_serving_agent: Agent) -> None:
    domain = plain_serving_agent.domain
    points = story_points(domain)
    expected = [pick(plain_serving_agent, point) for point in points]
    state_cache.install()
    try:
        assert [pick(plain_serving_agent, point) for point in points] == expected
    finally:
        state_cache.uninstall()
