"""Short-lived per-process memory of the WeChat channel: turns in flight, buttons last shown.

WeChat retries a message it got no answer to; the channel keeps each turn for a while so a
retry finds it. One process keeps this in memory; several processes behind one account would
need a shared implementation of :class:`Store` (and a way to share the turn results).
"""
from __future__ import annotations

import time
from collections import OrderedDict
from typing import Callable, Generic, Optional, Protocol, TypeVar

V = TypeVar("V")


class Store(Protocol[V]):
    def get(self, key: str) -> Optional[V]: ...

    def put(self, key: str, value: V) -> None: ...

    def pop(self, key: str) -> None: ...


class MemoryTTLStore(Generic[V]):
    """A dict whose entries expire ``ttl`` seconds after they were last put.

    Every entry lives equally long, so insertion order is expiry order and expired entries
    are dropped from the front. ``max_entries`` bounds memory; the oldest entry goes first.
    """

    def __init__(
        self, ttl: float, max_entries: int = 100_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if ttl <= 0 or max_entries <= 0:
            raise ValueError("ttl and max_entries must be positive")
        self.ttl = ttl
        self.max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[str, tuple[float, V]] = OrderedDict()

    def _expire(self) -> None:
        now = self._clock()
        while self._entries:
            key, (expires, _) = next(iter(self._entries.items()))
            if expires > now and len(self._entries) <= self.max_entries:
                break
            self._entries.popitem(last=False)

    def get(self, key: str) -> Optional[V]:
        self._expire()
        entry = self._entries.get(key)
        return entry[1] if entry else None

    def put(self, key: str, value: V) -> None:
        self._entries[key] = (self._clock() + self.ttl, value)
        self._entries.move_to_end(key)
        self._expire()

    def pop(self, key: str) -> None:
        self._entries.pop(key, None)

    def __len__(self) -> int:
        self._expire()
        return len(self._entries)
