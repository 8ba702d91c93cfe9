"""Tiny real fakes for the access tests: settable clocks and a key store that counts reads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from shoal.access.records import StoredKey
from shoal.storage.memory_access import InMemoryKeyStore

START = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


class FakeTimer:
    """A monotonic clock in seconds that moves only when told to."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class FakeClock:
    """A UTC wall clock that moves only when told to."""

    def __init__(self, start: datetime = START) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class CountingKeyStore(InMemoryKeyStore):
    """An in-memory key store that counts ``find_key`` calls (database round trips)."""

    finds = 0

    def find_key(self, key_id: str) -> StoredKey | None:
        self.finds += 1
        return super().find_key(key_id)
