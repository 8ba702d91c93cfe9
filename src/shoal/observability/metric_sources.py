"""Metrics read at scrape time from state that exists anyway: cache stats, the process, the disk,
usage plans. None of them costs the hot path anything.

Sources run on the event loop at each scrape (and multiprocess flush), so each must be cheap:
the model cache's counters are a few attribute reads; what is slow to learn (the size of the
unpacked-package folder, usage of every plan) is computed on a background thread at most every
``ttl_s`` seconds and served from the last result meanwhile (``Refreshing``).
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, Protocol, TypeVar

import psutil  # type: ignore[import-untyped]
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from shoal.observability.metrics import Family

logger = logging.getLogger(__name__)

T = TypeVar("T")


class CacheReport(Protocol):
    """What the model cache reports (``serving.cache_stats.CacheStats`` has these fields)."""

    @property
    def budget_bytes(self) -> int: ...
    @property
    def resident_bytes(self) -> int: ...
    @property
    def reserved_bytes(self) -> int: ...
    @property
    def resident_models(self) -> int: ...
    @property
    def loading_models(self) -> int: ...
    @property
    def pinned_models(self) -> int: ...
    @property
    def hits(self) -> int: ...
    @property
    def misses(self) -> int: ...
    @property
    def loads(self) -> int: ...
    @property
    def load_failures(self) -> int: ...
    @property
    def evictions(self) -> int: ...
    @property
    def load_seconds_total(self) -> float: ...
    @property
    def wait_seconds_total(self) -> float: ...


_CACHE_COUNTERS = (
    ("hits", "Leases served by a resident model."),
    ("misses", "Leases that waited for a model load."),
    ("evictions", "Models evicted (to make room, or on request)."),
    ("loads", "Model loads that succeeded."),
    ("load_failures", "Model loads that failed."),
    ("load_seconds", "Seconds spent loading models."),
    ("wait_seconds", "Seconds requests spent waiting for model loads."),
)
_CACHE_GAUGES = (
    ("budget_bytes", "The memory budget of the model cache."),
    ("resident_bytes", "Measured bytes of the models in memory."),
    ("reserved_bytes", "Bytes reserved for loads in flight."),
    ("resident_models", "Models in memory."),
    ("loading_models", "Models being loaded."),
    ("pinned_models", "Pinned models in memory."),
)


def cache_families(stats: CacheReport) -> list[Family]:
    """The model cache's counters and occupancy."""
    out: list[Family] = []
    for name, text in _CACHE_COUNTERS:
        counter = CounterMetricFamily(f"shoal_cache_{name}", text)
        attribute = f"{name}_total" if name.endswith("seconds") else name
        counter.add_metric([], getattr(stats, attribute))
        out.append(Family(counter))
    for name, text in _CACHE_GAUGES:
        gauge = GaugeMetricFamily(f"shoal_cache_{name}", text)
        gauge.add_metric([], getattr(stats, name))
        out.append(Family(gauge))
    return out


class ProcessSource:
    """CPU seconds and resident memory of this process (standard ``process_*`` names)."""

    def __init__(self) -> None:
        self._process = psutil.Process()

    def families(self) -> list[Family]:
        if self._process.pid != os.getpid():  # built before a fork: report the child
            self._process = psutil.Process()
        cpu = self._process.cpu_times()
        memory = self._process.memory_info()
        cpu_family = CounterMetricFamily(
            "process_cpu_seconds", "User and system CPU seconds of the server processes."
        )
        cpu_family.add_metric([], cpu.user + cpu.system)
        rss = GaugeMetricFamily(
            "process_resident_memory_bytes", "Resident memory of the server processes."
        )
        rss.add_metric([], memory.rss)
        processes = GaugeMetricFamily("shoal_processes", "Server processes reporting.")
        processes.add_metric([], 1)
        return [Family(cpu_family), Family(rss), Family(processes)]


class Refreshing(Generic[T]):
    """A value recomputed on a background thread at most every ``ttl_s``; reads never wait.

    ``get()`` returns the last value (None before the first one) and, when it is older than
    ``ttl_s``, starts one refresh unless one is running. A failing ``compute`` is logged and
    the previous value kept.
    """

    def __init__(
        self,
        compute: Callable[[], T],
        ttl_s: float,
        name: str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._compute = compute
        self._ttl_s = ttl_s
        self._name = name
        self._clock = clock
        self._value: T | None = None
        self._at: float | None = None
        self._running = False
        self._lock = threading.Lock()

    def get(self) -> T | None:
        with self._lock:
            stale = self._at is None or self._clock() - self._at >= self._ttl_s
            if stale and not self._running:
                self._running = True
                threading.Thread(target=self._refresh, name=self._name, daemon=True).start()
            return self._value

    def refresh_now(self) -> T | None:
        """Compute on this thread (tests, start-up)."""
        self._refresh_once()
        return self._value

    def _refresh(self) -> None:
        try:
            self._refresh_once()
        finally:
            with self._lock:
                self._running = False

    def _refresh_once(self) -> None:
        try:
            value = self._compute()
        except Exception:
            logger.warning("refreshing %s failed", self._name, exc_info=True)
            with self._lock:
                self._at = self._clock()  # retry after ttl_s, not on every scrape
            return
        with self._lock:
            self._value, self._at = value, self._clock()


@dataclass(frozen=True, slots=True)
class DiskUse:
    """The unpacked-package cache on disk: bytes used, packages, and free bytes left."""

    used_bytes: int
    packages: int
    free_bytes: int


def measure_disk_use(folder: Path) -> DiskUse:
    """Walk ``folder`` (``<home>/cache/packages``): allocated bytes of every file in it."""
    used, packages = 0, 0
    if folder.is_dir():
        stack = [(str(folder), 0)]
        while stack:
            path, depth = stack.pop()
            with os.scandir(path) as entries:
                for entry in entries:
                    if entry.is_dir(follow_symlinks=False):
                        stack.append((entry.path, depth + 1))
                        packages += depth == 0 and not entry.name.startswith(".")
                    elif entry.is_file(follow_symlinks=False):
                        used += entry.stat(follow_symlinks=False).st_blocks * 512
    probe = folder if folder.exists() else folder.parent
    free = shutil.disk_usage(probe).free if probe.exists() else 0
    return DiskUse(used, packages, free)


class DiskSource:
    """Disk use of the unpacked-package cache, walked at most every ``ttl_s`` (60 s)."""

    def __init__(self, folder: Path, ttl_s: float = 60.0) -> None:
        self._use = Refreshing(lambda: measure_disk_use(folder), ttl_s, "shoal-disk-use")

    def families(self) -> list[Family]:
        use = self._use.get()
        if use is None:
            return []
        out = []
        for name, text, value in (
            ("used_bytes", "Bytes on disk of the unpacked model packages.", use.used_bytes),
            ("packages", "Unpacked model packages on disk.", use.packages),
            ("free_bytes", "Free bytes on the package cache's filesystem.", use.free_bytes),
        ):
            gauge = GaugeMetricFamily(f"shoal_package_cache_{name}", text)
            gauge.add_metric([], value)
            # Every process on a host sees the same folder: take one reading, not the sum.
            out.append(Family(gauge, "max"))
        return out


@dataclass(frozen=True, slots=True)
class UsageSample:
    """How much of one quota window a plan's subject used."""

    subject: str
    window: str
    used: int
    limit: int


class UsageSource:
    """Usage-plan utilisation per subject and quota window, re-read at most every ``ttl_s``.

    ``read`` lists every subject's windows that have a limit (one query per subject: it runs
    on a background thread). At most ``max_subjects`` subjects are reported.
    """

    def __init__(
        self, read: Callable[[], list[UsageSample]], ttl_s: float = 30.0, max_subjects: int = 10_000
    ) -> None:
        self._usage = Refreshing(read, ttl_s, "shoal-plan-usage")
        self._max_subjects = max_subjects

    def families(self) -> list[Family]:
        samples = self._usage.get()
        if samples is None:
            return []
        ratio = GaugeMetricFamily(
            "shoal_plan_usage_ratio",
            "Share of a usage plan's quota used in the current window (1.0: at the limit).",
            labels=["subject", "window"],
        )
        used = GaugeMetricFamily(
            "shoal_plan_usage_requests",
            "Requests counted against a usage plan's quota in the current window.",
            labels=["subject", "window"],
        )
        subjects: set[str] = set()
        for sample in samples:
            if sample.subject not in subjects and len(subjects) >= self._max_subjects:
                continue
            subjects.add(sample.subject)
            labels = [sample.subject, sample.window]
            ratio.add_metric(labels, sample.used / sample.limit if sample.limit else 1.0)
            used.add_metric(labels, sample.used)
        # With Redis every process reads the same counters: one reading, not the sum.
        return [Family(ratio, "max"), Family(used, "max")]
