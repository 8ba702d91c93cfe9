"""``TtlCache``: a small bounded map whose entries expire, read without taking a lock."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")

Timer = Callable[[], float]
"""Seconds on a clock that never goes back (``time.monotonic``); tests pass a fake one."""


class TtlCache(Generic[K, V]):
    """Values kept for a time-to-live given per entry, at most ``max_entries`` of them.

    Reads are one dict lookup and one clock call (the GIL makes ``dict.get`` atomic); writes
    take a lock so that making room is consistent. When full, expired entries go first, then
    the oldest tenth. A hot path that has read the clock already may read ``entries`` itself:
    ``(expires, value)`` per key, live while ``expires`` is after now.
    """

    def __init__(self, max_entries: int, timer: Timer) -> None:
        if max_entries < 1:
            raise ValueError(f"max_entries must be at least 1, got {max_entries}")
        self._max = max_entries
        self._timer = timer
        self._entries: dict[K, tuple[float, V]] = {}
        self.entries: Mapping[K, tuple[float, V]] = self._entries
        """Read-only view of the entries (the dict itself: no wrapper on the read path)."""
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        """The live value for ``key``, or None when absent or expired."""
        entry = self._entries.get(key)
        if entry is None or entry[0] <= self._timer():
            return None
        return entry[1]

    def put(self, key: K, value: V, ttl_s: float) -> None:
        expires = self._timer() + ttl_s
        with self._lock:
            self._entries.pop(key, None)
            if len(self._entries) >= self._max:
                self._make_room()
            self._entries[key] = (expires, value)

    def discard(self, key: K) -> None:
        with self._lock:
            self._entries.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)

    def _make_room(self) -> None:
        now = self._timer()
        for key in [key for key, (expires, _) in self._entries.items() if expires <= now]:
            del self._entries[key]
        if len(self._entries) >= self._max:
            # Drop the oldest tenth at once (dicts keep insertion order and put() re-inserts),
            # so a full cache of live entries does not rescan on every put.
            for key in list(self._entries)[: max(1, self._max // 10)]:
                del self._entries[key]
