"""Event classes looked up once per event type.

Rasa finds an event's class by walking every Event subclass, for each event of the
conversation it reads from the tracker store on every turn (5% of a turn); the answer never
changes in a running server.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any

_resolve_by_type: Any = None


def install() -> None:
    global _resolve_by_type
    from rasa.shared.core.events import Event

    if _resolve_by_type is None:
        _resolve_by_type = Event.resolve_by_type
        Event.resolve_by_type = staticmethod(lru_cache(maxsize=None)(_resolve_by_type))  # type: ignore[method-assign]


def uninstall() -> None:
    global _resolve_by_type
    from rasa.shared.core.events import Event

    if _resolve_by_type is not None:
        Event.resolve_by_type = staticmethod(_resolve_by_type)  # type: ignore[method-assign]
        _resolve_by_type = None
