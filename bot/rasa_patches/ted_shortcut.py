"""TED runs only when its answer can still win (serving only; installed by bot/cli/rasa_server.py).

Rasa asks every policy for the next action and its ensemble keeps the most confident answer,
a tie going to the higher priority. When a rule or a memorised story applies, RulePolicy or
MemoizationPolicy answers with confidence 1.0, and both rank above TED, so TED's answer is
thrown away; yet featurizing the conversation and running TED's network took about 5 ms, twice
in every turn (once for the action, once for listening after it).

Here the prediction graph hands the other policies' predictions to TED, and TED answers "no
action" without running when one that ranks above it is already certain. The ensemble then
picks exactly what it would have picked. TED still runs when:
- the last action was rejected (the ensemble zeroes that action in every prediction, so the
  certain one may lose its 1.0);
- TED can predict from the user's text (end-to-end training): such predictions overrule the
  others;
- no policy above it is certain.
"""
from __future__ import annotations

import dataclasses
from typing import Any

from rasa.core.policies.ensemble import PolicyPredictionEnsemble
from rasa.core.policies.policy import Policy, PolicyPrediction
from rasa.core.policies.ted_policy import TEDPolicy
from rasa.engine.graph import GraphSchema
from rasa.engine.runner.dask import DaskGraphRunner
from rasa.shared.core.events import ActionExecuted, ActionExecutionRejected
from rasa.shared.nlu.constants import TEXT

EARLIER = "fanzha_earlier_"  # prefix of the inputs that carry the other policies' predictions


def with_earlier_predictions(schema: GraphSchema) -> GraphSchema:
    """The same graph, where each TED node also receives the other policies' predictions."""
    nodes = dict(schema.nodes)
    for ensemble in schema.nodes.values():
        if not issubclass(ensemble.uses, PolicyPredictionEnsemble):
            continue
        policies = [name for name in ensemble.needs.values()
                    if name in schema.nodes and issubclass(schema.nodes[name].uses, Policy)]
        for ted in (name for name in policies if issubclass(schema.nodes[name].uses, TEDPolicy)):
            earlier = {f"{EARLIER}{other}": other for other in policies if other != ted}
            nodes[ted] = dataclasses.replace(nodes[ted], needs={**nodes[ted].needs, **earlier})
    return GraphSchema(nodes)


def _last_action_rejected(tracker: Any) -> bool:
    for event in reversed(tracker.events):
        if isinstance(event, (ActionExecuted, ActionExecutionRejected)):
            return isinstance(event, ActionExecutionRejected)
    return False


def already_decided(ted: TEDPolicy, tracker: Any, earlier: list[PolicyPrediction]) -> bool:
    """True when TED's answer cannot change the ensemble's pick."""
    if ted.only_e2e or TEXT in getattr(ted, "fake_features", {}):
        return False
    if _last_action_rejected(tracker):
        return False
    return any(p.max_confidence >= 1.0 and p.policy_priority > ted.priority for p in earlier)


_predict = TEDPolicy.predict_action_probabilities


def _predict_unless_decided(self: TEDPolicy, tracker: Any, domain: Any, *args: Any, **kwargs: Any) -> PolicyPrediction:
    earlier = [kwargs.pop(key) for key in [k for k in kwargs if k.startswith(EARLIER)]]
    if self.model is not None and already_decided(self, tracker, earlier):
        return self._prediction(self._default_predictions(domain))
    return _predict(self, tracker, domain, *args, **kwargs)


class ShortcutGraphRunner(DaskGraphRunner):
    """Rasa's graph runner on the graph of with_earlier_predictions."""

    def __init__(self, graph_schema: GraphSchema, *args: Any, **kwargs: Any) -> None:
        super().__init__(with_earlier_predictions(graph_schema), *args, **kwargs)


def install() -> None:
    """Models loaded by this process from now on predict with the shortcut."""
    import rasa.core.processor

    TEDPolicy.predict_action_probabilities = _predict_unless_decided  # type: ignore[method-assign]
    rasa.core.processor.DaskGraphRunner = ShortcutGraphRunner  # type: ignore[misc]


def uninstall() -> None:
    import rasa.core.processor

    TEDPolicy.predict_action_probabilities = _predict  # type: ignore[method-assign]
    rasa.core.processor.DaskGraphRunner = DaskGraphRunner  # type: ignore[misc]
