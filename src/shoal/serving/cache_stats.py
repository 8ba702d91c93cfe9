"""The model cache's read-only reports: counters for the whole cache and one row per entry.

Frozen and built from plain values so ``dataclasses.asdict`` gives JSON for the API, the CLI and
Prometheus without knowing the cache's internals.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class EntryState(StrEnum):
    """A key's place in its life: bytes reserved while loading, then resident."""

    LOADING = "loading"
    RESIDENT = "resident"


@dataclass(frozen=True, slots=True)
class EntryInfo:
    """One cached model as the dashboard shows it.

    ``bytes`` is the reservation while loading and the measured footprint once resident;
    ``leases`` counts held leases plus requests waiting for this load. Times are on the
    cache's clock; ``loaded_at`` and ``last_used`` are ``None`` while loading.
    """

    key: str
    bytes: int
    state: EntryState
    hits: int
    leases: int
    pinned: bool
    protected: bool
    loaded_at: float | None
    last_used: float | None
    load_seconds: float


@dataclass(frozen=True, slots=True)
class CacheStats:
    """Counters since the cache was created, and its occupancy now.

    ``hits`` are leases served by a resident model; ``misses`` are leases that waited for a load
    (their own or one already running). ``wait_seconds_total`` is the time misses spent waiting.
    ``pinned_models`` counts pinned keys that are resident. Ages at eviction are how long evicted
    models had been resident (0.0 before the first eviction).
    """

    budget_bytes: int
    resident_bytes: int
    reserved_bytes: int
    resident_models: int
    loading_models: int
    pinned_models: int
    hits: int
    misses: int
    hit_ratio: float
    loads: int
    load_failures: int
    evictions: int
    load_seconds_total: float
    wait_seconds_total: float
    mean_age_at_eviction_s: float
    max_age_at_eviction_s: float


@dataclass(slots=True)
class CacheCounters:
    """The mutable running totals behind ``CacheStats`` (owned by the cache, loop thread only)."""

    hits: int = 0
    misses: int = 0
    loads: int = 0
    load_failures: int = 0
    evictions: int = 0
    load_seconds_total: float = 0.0
    wait_seconds_total: float = 0.0
    age_at_eviction_total: float = 0.0
    age_at_eviction_max: float = 0.0

    def record_eviction(self, age_s: float) -> None:
        self.evictions += 1
        self.age_at_eviction_total += age_s
        self.age_at_eviction_max = max(self.age_at_eviction_max, age_s)

    @property
    def hit_ratio(self) -> float:
        requests = self.hits + self.misses
        return self.hits / requests if requests else 0.0

    @property
    def mean_age_at_eviction_s(self) -> float:
        return self.age_at_eviction_total / self.evictions if self.evictions else 0.0
