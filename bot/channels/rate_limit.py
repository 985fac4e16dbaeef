"""Rate limits for the public channels (REST, socket.io, WeChat, phone line).

Three limits, each ``MESSAGES/SECONDS`` or ``off``, checked before a message reaches Rasa:

- ``FANZHA_RATE_LIMIT`` (default ``20/60``): per sender id, on each channel.
- ``FANZHA_RATE_LIMIT_ADDRESS`` (default ``300/60``): per client address, on REST and the web
  chat (bot/channels/client_address.py), shared by both. A new sender id per message does
  not escape it. Generous on purpose: in a community hall every resident on the hall's Wi-Fi
  shares one address. WeChat's and Twilio's requests come from their own servers, so on those
  channels the sender (the openid, the caller's number) is the meaningful key and this limit
  is not applied.
- ``FANZHA_RATE_LIMIT_GLOBAL`` (default ``1000/10``): every message of the assistant (all
  channels of this server process): about twice what the Rasa server answers on 2 cores
  (47 turns/s in the load bench), so a flood is refused before it costs a turn each.

A message over a limit is not passed on, stored or classified, and counts against none of
them. The windows live in this process's memory: a restart forgets them and each replica
counts its own.
"""
from __future__ import annotations

import os
import re
import time
import weakref
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable, Mapping

ENV_RATE_LIMIT = "FANZHA_RATE_LIMIT"
ENV_ADDRESS_LIMIT = "FANZHA_RATE_LIMIT_ADDRESS"
ENV_GLOBAL_LIMIT = "FANZHA_RATE_LIMIT_GLOBAL"
DEFAULTS = {ENV_RATE_LIMIT: "20/60", ENV_ADDRESS_LIMIT: "300/60", ENV_GLOBAL_LIMIT: "1000/10"}
# For benchmarks and tests that need volume from one address.
ALL_OFF = {name: "off" for name in DEFAULTS}
_SPEC = re.compile(r"^\s*(\d+)\s*/\s*(\d+(?:\.\d+)?)\s*$")
# Keys idle for a whole window are forgotten every so many messages, so memory follows
# the number of recent senders, not of all senders ever.
SWEEP_EVERY = 1000
_EVERYTHING = ""  # the global limit's one key

# Which limit refused a message.
SENDER, ADDRESS, GLOBAL = "sender", "address", "global"


class RateLimitError(ValueError):
    """A rate-limit setting is malformed; the message names it and says how to write it."""


@dataclass(frozen=True)
class RateLimit:
    messages: int
    seconds: float

    @classmethod
    def parse(cls, text: str, setting: str = ENV_RATE_LIMIT) -> "RateLimit | None":
        """``"20/60"`` → 20 messages per 60 s; ``"off"`` → None (no limit)."""
        if text.strip().lower() == "off":
            return None
        match = _SPEC.match(text)
        if not match or int(match.group(1)) < 1 or float(match.group(2)) <= 0:
            raise RateLimitError(f"{setting}={text!r}: write MESSAGES/SECONDS, for example {DEFAULTS[setting]}, or off")
        return cls(int(match.group(1)), float(match.group(2)))


class SlidingWindowLimiter:
    """At most ``limit.messages`` allowed messages per key in any ``limit.seconds``."""

    def __init__(self, limit: RateLimit, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self._clock = clock
        self._times: dict[str, deque[float]] = {}
        self._calls = 0

    def full(self, key: str) -> bool:
        """True when ``key`` has used its limit in the window ending now."""
        now = self._clock()
        self._calls += 1
        if self._calls % SWEEP_EVERY == 0:
            self._sweep(now)
        times = self._times.get(key)
        if not times:
            return False
        while times and times[0] <= now - self.limit.seconds:
            times.popleft()
        return len(times) >= self.limit.messages

    def add(self, key: str) -> None:
        self._times.setdefault(key, deque()).append(self._clock())

    def allow(self, key: str) -> bool:
        if self.full(key):
            return False  # refused messages do not count: waiting one window always helps
        self.add(key)
        return True

    def _sweep(self, now: float) -> None:
        for key in [k for k, times in self._times.items() if not times or times[-1] <= now - self.limit.seconds]:
            del self._times[key]

    @property
    def senders(self) -> int:
        """How many keys are remembered (for tests and diagnostics)."""
        return len(self._times)


def _limiter(env: Mapping[str, str], setting: str) -> SlidingWindowLimiter | None:
    limit = RateLimit.parse(env.get(setting) or DEFAULTS[setting], setting)
    return SlidingWindowLimiter(limit) if limit else None


@dataclass(frozen=True)
class SharedLimits:
    """The limits all channels of one assistant share: per address and global."""

    address: SlidingWindowLimiter | None
    overall: SlidingWindowLimiter | None


# Rasa hands every channel of a server the same message callback (rasa.core.channels.channel.register),
# so the callback identifies the assistant: its channels share one SharedLimits. (A module-wide
# one would also be shared by unrelated test apps in one process.) Keyed by id, held weakly:
# callbacks need not be hashable.
_shared: dict[int, tuple["weakref.ref[Any]", SharedLimits]] = {}


def _shared_by(assistant: Any, env: Mapping[str, str]) -> SharedLimits:
    key = id(assistant)
    known = _shared.get(key)
    if known is not None and known[0]() is assistant:
        return known[1]
    shared = SharedLimits(_limiter(env, ENV_ADDRESS_LIMIT), _limiter(env, ENV_GLOBAL_LIMIT))
    _shared[key] = (weakref.ref(assistant, lambda _: _shared.pop(key, None)), shared)
    return shared


@dataclass(frozen=True)
class MessageLimits:
    sender: SlidingWindowLimiter | None
    shared: SharedLimits

    def refusal(self, sender: str, address: str | None) -> str | None:
        """None when the message may pass (it is then counted); else the limit it is over."""
        checks = [(self.sender, sender, SENDER), (self.shared.address, address, ADDRESS),
                  (self.shared.overall, _EVERYTHING, GLOBAL)]
        active = [(limiter, key, name) for limiter, key, name in checks if limiter is not None and key is not None]
        for limiter, key, name in active:
            if limiter.full(key):
                return name
        for limiter, key, _ in active:
            limiter.add(key)
        return None


def limits_from_env(assistant: Any, env: Mapping[str, str] = os.environ) -> MessageLimits:
    """A channel's limits: its own per sender, and those it shares with the other channels
    handing messages to ``assistant`` (the callback Rasa gives each channel's blueprint)."""
    return MessageLimits(_limiter(env, ENV_RATE_LIMIT), _shared_by(assistant, env))
