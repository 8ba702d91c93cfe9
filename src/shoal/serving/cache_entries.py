"""What the model cache hands out and keeps per key: ``Lease`` (a hold on a resident model)
and ``CacheEntry`` (one key's state: loading or resident, its size, leases and waiters)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Generic, TypeVar

from shoal.serving.cache_stats import EntryState

M = TypeVar("M")


class Lease(Generic[M]):
    """A hold on a resident model: it is not evicted until ``release`` (or the ``async with``)."""

    __slots__ = ("_release", "_released", "hit", "key", "load_seconds", "model", "wait_seconds")

    def __init__(
        self,
        key: str,
        model: M,
        *,
        hit: bool,
        wait_seconds: float,
        load_seconds: float,
        release: Callable[[], None],
    ) -> None:
        self.key = key
        self.model = model
        self.hit = hit
        """Whether the model was resident when asked for (no load waited on)."""
        self.wait_seconds = wait_seconds
        """How long this request waited for the model to load (0.0 on a hit)."""
        self.load_seconds = load_seconds
        """How long the load this request waited on took (0.0 on a hit)."""
        self._release = release
        self._released = False

    def release(self) -> None:
        """Give the model back; releasing twice is harmless."""
        if not self._released:
            self._released = True
            self._release()

    async def __aenter__(self) -> Lease[M]:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


@dataclass(slots=True, eq=False)
class CacheEntry(Generic[M]):
    """One key of the cache; all of it is read and written on the event-loop thread."""

    key: str
    task: asyncio.Task[M] | None = None
    state: EntryState = EntryState.LOADING
    model: M | None = None
    reserved: int = 0  # bytes held for the load in flight; 0 once resident
    size: int = 0  # measured bytes once resident
    leases: int = 0
    waiters: int = 0  # requests waiting on this load: they must find it resident when it lands
    hits: int = 0
    loaded_at: float | None = None
    last_used: float | None = None
    load_seconds: float = 0.0
    evict_requested: bool = False

    @property
    def held(self) -> bool:
        return self.leases > 0 or self.waiters > 0
