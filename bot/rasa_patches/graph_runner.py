"""Rasa's prediction graph run in order, without dask (serving only).

Rasa runs its graph three times a turn (the message's NLU, then the next action twice), and each
time works out again which nodes the targets need, builds a dask graph and lets dask's local
scheduler order and run it: about a millisecond a turn spent deciding an order that never
changes. Here the order for each set of targets is worked out once and the same nodes run in
it, with the same inputs and outputs (GraphNode does the work, as under dask).
"""
from __future__ import annotations

from graphlib import TopologicalSorter
from typing import Any, Optional

from rasa.engine.exceptions import GraphRunError
from rasa.engine.graph import GraphSchema
from rasa.engine.runner.dask import DaskGraphRunner

Plan = list[tuple[str, list[str]]]  # each node to run, in order, with the names it needs


class SequentialGraphRunner(DaskGraphRunner):
    def __init__(self, graph_schema: GraphSchema, *args: Any, **kwargs: Any) -> None:
        super().__init__(graph_schema, *args, **kwargs)
        self._plans: dict[tuple[str, ...], Plan] = {}

    def _plan(self, targets: tuple[str, ...]) -> Plan:
        if targets not in self._plans:
            needed = self._graph_schema.minimal_graph_schema(list(targets)).nodes
            order = TopologicalSorter({name: [n for n in node.needs.values() if n in needed]
                                       for name, node in needed.items()}).static_order()
            self._plans[targets] = [(name, list(needed[name].needs.values())) for name in order]
        return self._plans[targets]

    def run(self, inputs: Optional[dict[str, Any]] = None, targets: Optional[list[str]] = None) -> dict[str, Any]:
        """Runs the graph (see DaskGraphRunner.run): the same results, in a fixed order."""
        targets = targets or self._graph_schema.target_names
        plan = self._plan(tuple(targets))
        done: dict[str, Any] = {}
        for name, value in (inputs or {}).items():
            if isinstance(value, str) and value in self._graph_schema.nodes:
                raise GraphRunError(f"Input value '{value}' clashes with a node name.")
            done[name] = (name, value)
        try:
            for name, needs in plan:
                # As under dask, a need that nothing provides is passed as its name (GraphNode warns).
                done[name] = self._instantiated_nodes[name](*(done.get(need, need) for need in needs))
        except RuntimeError as error:
            raise GraphRunError("Error running runner.") from error
        return dict(done[target] for target in targets)
