"""A circuit breaker: after a failure, leave a helper service alone for a few seconds.

Used where the assistant has its own fallback for a service that failed (the safe answer when
the action server is down, bot/rasa_patches/action_guard.py; understanding in-process when the understanding
server is, bot/rasa_patches/nlu_offload.py): while the breaker is open the caller goes straight to the
fallback instead of waiting for the service's time limit on every message. The first call
after the rest tries the service again; each failure starts a new rest.
"""
from __future__ import annotations

import time
from typing import Callable


class Breaker:
    def __init__(self, rest_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.rest_s = rest_s
        self._clock = clock
        self._failed_at: float | None = None  # None: no failure since the last success

    def open(self) -> bool:
        """True while the service rests: use the fallback without asking it."""
        return self._failed_at is not None and self._clock() - self._failed_at < self.rest_s

    def failed(self) -> bool:
        """Start (or restart) the rest; True for the first failure of an outage."""
        first = self._failed_at is None
        self._failed_at = self._clock()
        return first

    def succeeded(self) -> bool:
        """Close the breaker; True when this ends an outage."""
        ended = self._failed_at is not None
        self._failed_at = None
        return ended
