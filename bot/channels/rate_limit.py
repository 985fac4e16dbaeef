"""Per-sender rate limiting for the public channels (REST, socket.io, WeChat, phone line).

``FANZHA_RATE_LIMIT`` is ``MESSAGES/SECONDS`` (default ``20/60``: 20 messages in any 60
seconds per sender and channel); ``off`` turns it off. A message over the limit never reaches
Rasa: it is not stored, classified or answered by the assistant (see masking.MaskingMixin).

The windows live in this process's memory: a restart forgets them and several server
replicas each count on their own. That is enough to stop one sender flooding the assistant;
it is not a defence against someone who invents a new sender id for every message.
"""
from __future__ import annotations

import os
import re
import time
from collections import deque
from dataclasses import dataclass
from typing import Callable, Mapping

ENV_RATE_LIMIT = "FANZHA_RATE_LIMIT"
DEFAULT_RATE_LIMIT = "20/60"
_SPEC = re.compile(r"^\s*(\d+)\s*/\s*(\d+(?:\.\d+)?)\s*$")
# Senders idle for a whole window are forgotten every so many messages, so memory follows
# the number of recent senders, not of all senders ever.
SWEEP_EVERY = 1000


class RateLimitError(ValueError):
    """FANZHA_RATE_LIMIT is malformed; the message says how to write it."""


@dataclass(frozen=True)
class RateLimit:
    messages: int
    seconds: float

    @classmethod
    def parse(cls, text: str) -> "RateLimit | None":
        """``"20/60"`` → 20 messages per 60 s; ``"off"`` → None (no limit)."""
        if text.strip().lower() == "off":
            return None
        match = _SPEC.match(text)
        if not match or int(match.group(1)) < 1 or float(match.group(2)) <= 0:
            raise RateLimitError(
                f"{ENV_RATE_LIMIT}={text!r}: write MESSAGES/SECONDS, for example 20/60, or off"
            )
        return cls(int(match.group(1)), float(match.group(2)))


class SlidingWindowLimiter:
    """At most ``limit.messages`` allowed messages per key in any ``limit.seconds``."""

    def __init__(self, limit: RateLimit, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self._clock = clock
        self._times: dict[str, deque[float]] = {}
        self._calls = 0

    def allow(self, key: str) -> bool:
        now = self._clock()
        self._calls += 1
        if self._calls % SWEEP_EVERY == 0:
            self._sweep(now)
        times = self._times.setdefault(key, deque())
        while times and times[0] <= now - self.limit.seconds:
            times.popleft()
        if len(times) >= self.limit.messages:
            return False  # refused messages do not count: waiting one window always helps
        times.append(now)
        return True

    def _sweep(self, now: float) -> None:
        for key in [k for k, times in self._times.items() if not times or times[-1] <= now - self.limit.seconds]:
            del self._times[key]

    @property
    def senders(self) -> int:
        """How many senders are remembered (for tests and diagnostics)."""
        return len(self._times)


def limiter_from_env(env: Mapping[str, str] = os.environ) -> SlidingWindowLimiter | None:
    """The limiter the settings ask for; None when rate limiting is off."""
    limit = RateLimit.parse(env.get(ENV_RATE_LIMIT) or DEFAULT_RATE_LIMIT)
    return SlidingWindowLimiter(limit) if limit else None
