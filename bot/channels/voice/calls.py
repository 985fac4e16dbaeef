"""What the phone line remembers about a call between two webhooks, keyed by CallSid.

Twilio calls the webhook once per turn and keeps no state for us, so silences, the last
prompt (for "press * to repeat"), a speech result waiting for confirmation and the keys
the bot's buttons offered live here. Only masked text is ever kept.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Protocol

RECENT_UTTERANCES = 3


@dataclass
class CallState:
    silences: int = 0
    last_prompt: tuple[str, ...] = ()
    pending: str | None = None  # a masked speech result waiting for "是请按1"
    choices: dict[str, str] = field(default_factory=dict)  # key → payload of the bot's buttons
    heard: list[str] = field(default_factory=list)  # the caller's last masked utterances
    handoff_summary: str | None = None

    def remember(self, text: str) -> None:
        self.heard = [*self.heard, text][-RECENT_UTTERANCES:]


class CallStore(Protocol):
    def get(self, call_sid: str) -> CallState | None: ...

    def save(self, call_sid: str, state: CallState) -> None: ...

    def forget(self, call_sid: str) -> None: ...


class InMemoryCallStore:
    """One process's calls. A call untouched for ``max_age`` seconds is dropped, so calls
    whose end Twilio never reported (no status callback configured) do not pile up."""

    def __init__(self, max_age: float = 3 * 3600, clock: Callable[[], float] = time.monotonic) -> None:
        self._calls: dict[str, tuple[float, CallState]] = {}
        self._max_age = max_age
        self._clock = clock

    def get(self, call_sid: str) -> CallState | None:
        entry = self._calls.get(call_sid)
        if entry is None or self._clock() - entry[0] > self._max_age:
            return None
        return entry[1]

    def save(self, call_sid: str, state: CallState) -> None:
        now = self._clock()
        self._calls = {sid: e for sid, e in self._calls.items() if now - e[0] <= self._max_age}
        self._calls[call_sid] = (now, state)

    def forget(self, call_sid: str) -> None:
        self._calls.pop(call_sid, None)

    def __len__(self) -> int:
        return len(self._calls)
