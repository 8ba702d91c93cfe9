"""Tiny real fakes for the model-cache tests: a settable clock, a counting loader, a meter."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import numpy as np
from numpy.typing import NDArray

from shoal.serving.cache import ModelCache

Model = NDArray[np.uint8]


class FakeClock:
    """A monotonic clock that moves only when told to (loaders may advance it from a thread)."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Loader:
    """Loads an array of ``nbytes``; counts calls; can block on a gate, take time or fail."""

    def __init__(
        self,
        nbytes: int,
        *,
        clock: FakeClock | None = None,
        cost_s: float = 0.0,
        gate: threading.Event | None = None,
        error: Exception | None = None,
        failures: int | None = None,
    ) -> None:
        self.nbytes = nbytes
        self.clock = clock
        self.cost_s = cost_s
        self.gate = gate
        self.error = error
        self.failures = failures  # fail the first N calls; None: every call
        self.calls = 0
        self.started = threading.Event()

    def __call__(self) -> Model:
        self.calls += 1
        self.started.set()
        if self.gate is not None and not self.gate.wait(10):
            raise TimeoutError("test gate never opened")
        if self.clock is not None:
            self.clock.advance(self.cost_s)
        if self.error is not None and (self.failures is None or self.calls <= self.failures):
            raise self.error
        return np.zeros(self.nbytes, dtype=np.uint8)


def nbytes_meter(model: object) -> int:
    """Exact sizes for the fake models, so budgets in tests are plain arithmetic."""
    assert isinstance(model, np.ndarray)
    return int(model.nbytes)


def make_cache(budget: int, clock: FakeClock, **options: Any) -> ModelCache[Model]:
    options.setdefault("meter", nbytes_meter)
    options.setdefault("lease_wait_timeout_s", 0.05)
    return ModelCache(budget, clock=clock, **options)


async def wait_for_thread_event(event: threading.Event) -> None:
    """Wait for an event set by a loader thread without blocking the event loop."""
    assert await asyncio.to_thread(event.wait, 10), "the loader never started"


async def load_and_release(cache: ModelCache[Model], key: str, loader: Loader, hint: int) -> None:
    lease = await cache.lease(key, loader, hint)
    lease.release()


def resident_keys(cache: ModelCache[Model]) -> set[str]:
    return {e.key for e in cache.entries() if e.state == "resident"}
