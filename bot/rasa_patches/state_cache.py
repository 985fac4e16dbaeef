"""A conversation's dialogue states worked out once per prediction (serving only; installed by
bot/cli/rasa_server.py).

To predict the next action, RulePolicy (twice after a user message: once by text, once by
intent), MemoizationPolicy and TED each turn the whole conversation into a list of dialogue
states, replaying every event from the start: a tenth of a turn's work, repeated with the same
answer. The states depend only on the tracker's events and the arguments, so each tracker keeps
the last list it gave for each set of arguments, with the events it was made from; a call after
any event was added, dropped or replaced works the states out again. Callers edit the states
they get (RulePolicy drops the text or the intent of the last one), so each call gets its own
copy.
"""
from __future__ import annotations

import copy
from typing import Any, Optional

from rasa.shared.core.domain import Domain, State
from rasa.shared.core.trackers import DialogueStateTracker

CACHE = "_fanzha_past_states"

_past_states = DialogueStateTracker.past_states


def _copy(states: list[State]) -> list[State]:
    return [{name: dict(sub_state) for name, sub_state in state.items()} for state in states]


def _events_mark(tracker: DialogueStateTracker) -> tuple[Any, int, Any]:
    """Changes whenever the tracker's events do: new events are appended to the deque, a
    restored or travelled tracker has another deque."""
    events = tracker.events
    return events, len(events), events[-1] if events else None


def _same_mark(a: tuple[Any, int, Any], b: tuple[Any, int, Any]) -> bool:
    return a[0] is b[0] and a[1] == b[1] and a[2] is b[2]


def past_states_once(
    self: DialogueStateTracker,
    domain: Domain,
    omit_unset_slots: bool = False,
    ignore_rule_only_turns: bool = False,
    rule_only_data: Optional[dict[str, Any]] = None,
) -> list[State]:
    cache: dict[tuple[bool, bool], tuple[Any, ...]] = self.__dict__.setdefault(CACHE, {})
    key = (omit_unset_slots, ignore_rule_only_turns)
    mark = _events_mark(self)
    kept = cache.get(key)
    if kept is not None:
        kept_mark, kept_domain, kept_rule_only_data, states = kept
        if _same_mark(kept_mark, mark) and kept_domain is domain and kept_rule_only_data == rule_only_data:
            return _copy(states)
    states = _past_states(self, domain, omit_unset_slots, ignore_rule_only_turns, rule_only_data)
    cache[key] = (mark, domain, copy.deepcopy(rule_only_data), _copy(states))
    return states


def install() -> None:
    DialogueStateTracker.past_states = past_states_once  # type: ignore[method-assign]


def uninstall() -> None:
    DialogueStateTracker.past_states = _past_states  # type: ignore[method-assign]
