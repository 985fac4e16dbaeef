"""The server's lighter model loader gives exactly the answers of Rasa's own loader."""
from __future__ import annotations

from typing import Any

import pytest
import yaml
from rasa.core.agent import Agent
from rasa.shared.core.events import UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from bot import rasa_server
from tests.assistant import MODEL
from tests.conftest import ROOT


def holdout_texts(every: int = 4) -> list[str]:
    """A spread of the held-out NLU test file: every intent, not every example."""
    data = yaml.safe_load((ROOT / "tests" / "nlu" / "holdout.yml").read_text(encoding="utf-8"))
    texts = [line[2:].strip() for item in data["nlu"] for line in item["examples"].splitlines() if line.startswith("- ")]
    return texts[::every]


async def answers(agent: Agent, texts: list[str]) -> list[Any]:
    """Intent, its confidence, the FAQ answer chosen and the next action, for each text."""
    found = []
    for text in texts:
        parsed = await agent.parse_message(text)
        faq = parsed.get("response_selector", {}).get("faq", {}).get("response", {})
        tracker = DialogueStateTracker.from_events("t", [UserUttered(text, parsed["intent"], parsed["entities"], parsed)])
        prediction = agent.processor._predict_next_with_tracker(tracker)
        found.append((parsed["intent"]["name"], round(parsed["intent"]["confidence"], 4), faq.get("utter_action"),
                      prediction.max_confidence_index, round(prediction.max_confidence, 4)))
    return found


@pytest.fixture(scope="module")
def both_agents(plain_serving_agent: Agent) -> tuple[Agent, Agent]:
    return Agent.load(str(MODEL)), plain_serving_agent


async def test_the_serving_loader_answers_exactly_as_rasas_loader(both_agents: tuple[Agent, Agent]) -> None:
    rasas, ours = both_agents
    texts = holdout_texts()
    assert len(texts) > 80
    assert await answers(ours, texts) == await answers(rasas, texts)


def test_the_serving_loader_keeps_no_training_state(both_agents: tuple[Agent, Agent]) -> None:
    rasas, ours = both_agents

    def neural_models(agent: Agent) -> list[Any]:
        nodes = agent.processor.graph_runner._instantiated_nodes.values()  # type: ignore[attr-defined]
        return [node._component.model for node in nodes if hasattr(getattr(node, "_component", None), "model")
                and hasattr(node._component.model, "run_inference")]

    assert len(neural_models(ours)) == 3  # DIET, ResponseSelector, TED
    assert all(model.optimizer is not None for model in neural_models(rasas))
    assert all(model.optimizer is None for model in neural_models(ours))


def test_event_types_are_remembered_with_the_same_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    from rasa.shared.core.events import Event
    from rasa.shared.utils.common import all_subclasses

    names = {cls.type_name for cls in all_subclasses(Event) if getattr(cls, "type_name", None)}
    expected = {name: Event.resolve_by_type(name) for name in names}
    monkeypatch.setattr(Event, "resolve_by_type", Event.__dict__["resolve_by_type"])  # restored after the test
    rasa_server.remember_event_types()
    assert {name: Event.resolve_by_type(name) for name in names} == expected
    assert len(names) > 15
    with pytest.raises(ValueError, match="Unknown event name"):
        Event.resolve_by_type("no_such_event")


def test_the_traced_graph_is_called_flat_only_with_arrays_of_its_kinds(monkeypatch: pytest.MonkeyPatch) -> None:
    import numpy as np
    import tensorflow as tf

    signature = [[tf.TensorSpec([None, 2], tf.float32), tf.TensorSpec([None], tf.int64)]]
    graph = tf.function(lambda batch: {"sum": tf.reduce_sum(batch[0], axis=1) + tf.cast(batch[1], tf.float32)},
                        input_signature=signature).get_concrete_function()
    call = rasa_server.flat_caller(graph)
    batch = (np.array([[1.0, 2.0], [3.0, 4.0]], dtype=np.float32), np.array([10, 20], dtype=np.int64))
    assert call(batch)["sum"].numpy().tolist() == graph(batch)["sum"].numpy().tolist() == [13.0, 27.0]
    with monkeypatch.context() as patched:  # a batch of its kinds skips the checked dispatch
        patched.setattr(type(graph), "__call__", lambda *_: pytest.fail("went the checked way"))
        assert call(batch)["sum"].numpy().tolist() == [13.0, 27.0]
    other_kind = (batch[0].astype(np.float64), batch[1])  # goes the checked way, which converts it
    assert call(other_kind)["sum"].numpy().tolist() == graph(other_kind)["sum"].numpy().tolist() == [13.0, 27.0]
    with pytest.raises(ValueError):  # a batch that does not fit fails as in Rasa's call
        graph(batch[:1])
    with pytest.raises(ValueError):
        call(batch[:1])
