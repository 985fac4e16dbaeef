"""TED is skipped only when its answer cannot win: the next actions stay exactly Rasa's."""
from __future__ import annotations

import random
from pathlib import Path
from typing import Any, Iterator

import pytest
from rasa.core.agent import Agent
from rasa.core.policies.policy import PolicyPrediction
from rasa.core.policies.ted_policy import TEDPolicy
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, ActionExecutionRejected, UserUtteranceReverted, UserUttered
from rasa.shared.core.generator import TrainingDataGenerator
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.importers.importer import TrainingDataImporter

from bot.rasa_patches import ted_shortcut
from tests.conftest import ROOT


def story_trackers(domain: Domain, path: Path, conversation_tests: bool) -> list[DialogueStateTracker]:
    importer = TrainingDataImporter.load_from_dict(training_data_paths=[str(path)], domain_path=str(ROOT / "bot" / "domain"))
    graph = importer.get_conversation_tests() if conversation_tests else importer.get_stories()
    return TrainingDataGenerator(graph, domain, use_story_concatenation=False, augmentation_factor=0).generate_story_trackers()


def decision_points(tracker: DialogueStateTracker, domain: Domain) -> Iterator[DialogueStateTracker]:
    """The conversation as it stood before each action the story shows."""
    events = list(tracker.events)
    for i, event in enumerate(events):
        if isinstance(event, ActionExecuted) and i > 1:
            yield DialogueStateTracker.from_events(tracker.sender_id, events[:i], slots=domain.slots)


def played(plain: Agent, shortcut: Agent, turns: int = 120) -> Iterator[tuple[Any, Any]]:
    """Off-script conversations: intents in a shuffled order, each action as the plain agent picks it."""
    domain = plain.domain
    intents = sorted(domain.intents) * 3
    random.Random(7).shuffle(intents)
    tracker = DialogueStateTracker.from_events("played", [ActionExecuted("action_listen")], slots=domain.slots)
    for intent in intents[:turns]:
        tracker.update(UserUttered("x", {"name": intent, "confidence": 1.0}))
        for _ in range(4):
            expected, got = pick(plain, tracker), pick(shortcut, tracker)
            yield expected, got
            action = domain.action_names_or_texts[expected[0]]
            tracker.update(ActionExecuted(action))
            if action == "action_default_fallback":  # what it does when it runs
                tracker.update(UserUtteranceReverted())
            if action == "action_listen":
                break


def pick(agent: Agent, tracker: DialogueStateTracker) -> tuple[Any, ...]:
    prediction = agent.processor._predict_next_with_tracker(tracker)
    return prediction.max_confidence_index, prediction.policy_name, round(prediction.max_confidence, 4)


@pytest.fixture(scope="module")
def agents(plain_serving_agent: Agent, shortcut_serving_agent: Agent) -> tuple[Agent, Agent]:
    return plain_serving_agent, shortcut_serving_agent


def test_every_story_gets_the_same_next_actions_with_the_shortcut(agents: tuple[Agent, Agent],
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    plain, shortcut = agents
    domain = plain.domain
    trackers = (story_trackers(domain, ROOT / "tests" / "stories", conversation_tests=True)
                + story_trackers(domain, ROOT / "stories", conversation_tests=False))
    ted_ran = []
    real_predict = ted_shortcut._predict
    monkeypatch.setattr(ted_shortcut, "_predict", lambda *a, **k: ted_ran.append(1) or real_predict(*a, **k))
    points = [point for tracker in trackers for point in decision_points(tracker, domain)]
    with_shortcut = [pick(shortcut, point) for point in points]  # each agent calls what was installed at its load
    skipped = len(points) - len(ted_ran)
    assert with_shortcut == [pick(plain, point) for point in points]
    assert len(points) > 100
    assert skipped > len(points) / 2  # the shortcut is taken in most turns ...


def test_off_script_conversations_get_the_same_next_actions_with_the_shortcut(
        agents: tuple[Agent, Agent], monkeypatch: pytest.MonkeyPatch) -> None:
    ted_ran = []
    real_predict = ted_shortcut._predict
    monkeypatch.setattr(ted_shortcut, "_predict", lambda *a, **k: ted_ran.append(1) or real_predict(*a, **k))
    pairs = list(played(*agents))
    assert [got for _, got in pairs] == [expected for expected, _ in pairs]
    assert len(pairs) > 150
    assert len(ted_ran) >= 5  # where no rule or story applies, TED runs and competes with the fallback


def prediction(confidence: float, priority: int) -> PolicyPrediction:
    return PolicyPrediction([0.0, confidence], "policy", priority)


@pytest.fixture()
def ted(agents: tuple[Agent, Agent]) -> TEDPolicy:
    nodes = agents[1].processor.graph_runner._instantiated_nodes.values()  # type: ignore[attr-defined]
    return next(node._component for node in nodes if isinstance(getattr(node, "_component", None), TEDPolicy))


def listening(*events: Any) -> DialogueStateTracker:
    return DialogueStateTracker.from_events("t", [ActionExecuted("action_listen"), UserUttered("你好", {"name": "greet"}), *events])


def test_ted_is_skipped_only_when_a_higher_priority_policy_is_certain(ted: TEDPolicy) -> None:
    tracker = listening()
    assert ted_shortcut.already_decided(ted, tracker, [prediction(1.0, ted.priority + 1)])
    assert not ted_shortcut.already_decided(ted, tracker, [prediction(0.99, ted.priority + 1)])
    assert not ted_shortcut.already_decided(ted, tracker, [prediction(1.0, ted.priority)])  # a tie: order decides
    assert not ted_shortcut.already_decided(ted, tracker, [])


def test_ted_runs_after_a_rejected_action(ted: TEDPolicy) -> None:
    rejected = listening(ActionExecutionRejected("report_form"))
    assert not ted_shortcut.already_decided(ted, rejected, [prediction(1.0, ted.priority + 5)])


def test_ted_runs_when_it_can_predict_from_text(ted: TEDPolicy, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ted, "only_e2e", True)
    assert not ted_shortcut.already_decided(ted, listening(), [prediction(1.0, ted.priority + 5)])


def test_only_ted_nodes_get_the_other_policies_predictions(agents: tuple[Agent, Agent]) -> None:
    schema = agents[0].processor.model_metadata.predict_schema
    changed = ted_shortcut.with_earlier_predictions(schema)
    differ = {name for name in schema.nodes if schema.nodes[name] != changed.nodes[name]}
    assert differ == {"run_TEDPolicy2"}
    extra = set(changed.nodes["run_TEDPolicy2"].needs.items()) - set(schema.nodes["run_TEDPolicy2"].needs.items())
    assert {node for _, node in extra} == {"run_MemoizationPolicy0", "run_RulePolicy1"}
