"""The model cache: loaded models kept resident under a byte budget, each key loaded once.

All bookkeeping runs on the event-loop thread, so it needs no locks; only the blocking load (and
measuring the loaded model) runs in an executor. A load's life:

1. **Reserve.** Within ``max_parallel_loads`` slots, reserve the key's last measured footprint
   (or the caller's ``size_hint``) and evict, in policy order, until it fits. When what could be
   evicted is not enough (everything is leased or pinned) evict nothing and wait for releases,
   up to ``lease_wait_timeout_s``, then raise ``CacheFullError``.
2. **Load and measure** in the executor; the reservation is swapped for the measured bytes and,
   if the model turned out bigger, the cache evicts down to its budget at once.
3. **Serve.** Every request that arrived meanwhile shares the one load (single flight). A
   request that is cancelled stops waiting but never cancels the load (``asyncio.shield``), so
   the model still lands in the cache for the next request.

A caller that knows a load is quick (``inline=True``: a small compact model already on local
disk, ~0.1 ms) has it loaded right there on the event loop when it fits without waiting: handing it
to a thread and back costs more than the load (each hand-off waits for a turn of a busy loop,
tens of ms under load). Nothing else can run meanwhile, so it is single-flight all the same.

Leases count references: a leased model is never evicted, and ``evict`` on a leased model
happens when its last lease is released. A failed load is remembered for ``failure_backoff_s``
so a broken artifact is not re-read by every request.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import logging
import time
from collections.abc import Callable
from typing import Generic, TypeVar

from shoal.errors import CacheFullError, CapacityError, ModelLoadError, ModelTooLargeError
from shoal.serving.cache_entries import CacheEntry, Lease
from shoal.serving.cache_stats import CacheCounters, CacheStats, EntryInfo, EntryState
from shoal.serving.footprint import measure_footprint
from shoal.serving.policy import Segment, SegmentedGdsfPolicy

__all__ = [
    "CacheFullError",
    "CacheStats",
    "EntryInfo",
    "EntryState",
    "Lease",
    "ModelCache",
    "ModelLoadError",
    "ModelTooLargeError",
]

logger = logging.getLogger(__name__)

M = TypeVar("M")


def _retrieve_exception(task: asyncio.Task[object]) -> None:
    # A load whose waiters were all cancelled still fails somewhere; keep asyncio from logging
    # "exception was never retrieved" (the failure is logged and remembered by the cache).
    if not task.cancelled():
        task.exception()


class ModelCache(Generic[M]):
    """Loaded models under a byte budget, with leases, pins, single-flight loads and eviction."""

    def __init__(
        self,
        budget_bytes: int,
        *,
        max_parallel_loads: int = 2,
        executor: concurrent.futures.Executor | None = None,
        meter: Callable[[object], int] = measure_footprint,
        clock: Callable[[], float] = time.monotonic,
        protected_ratio: float = 0.8,
        failure_backoff_s: float = 5.0,
        lease_wait_timeout_s: float = 10.0,
    ) -> None:
        if budget_bytes <= 0:
            raise ValueError(f"budget_bytes must be positive, got {budget_bytes}")
        if max_parallel_loads < 1:
            raise ValueError(f"max_parallel_loads must be at least 1, got {max_parallel_loads}")
        self._budget = budget_bytes
        self._executor = executor
        self._meter = meter
        self._clock = clock
        self._failure_backoff_s = failure_backoff_s
        self._lease_wait_timeout_s = lease_wait_timeout_s
        self._policy = SegmentedGdsfPolicy(budget_bytes, protected_ratio)
        self._load_slots = asyncio.Semaphore(max_parallel_loads)
        self._entries: dict[str, CacheEntry[M]] = {}
        self._pinned: set[str] = set()
        self._footprints: dict[str, int] = {}
        self._failures: dict[str, tuple[float, BaseException]] = {}
        self._resident_bytes = 0
        self._reserved_bytes = 0
        self._space_freed: asyncio.Event | None = None
        self._counters = CacheCounters()

    async def lease(
        self, key: str, load: Callable[[], M], size_hint: int, inline: bool = False
    ) -> Lease[M]:
        """The model for ``key``, loading it with ``load`` if needed; release the lease after use.

        ``inline``: the load is known to take well under a millisecond; run it on the event loop
        when the model fits without waiting for room (see the module docstring).

        Raises ``ModelLoadError`` (the loader failed, now or within the back-off),
        ``ModelTooLargeError`` (bigger than the budget) or ``CacheFullError`` (no room in time).
        """
        resident = self.lease_resident(key)
        if resident is not None:
            return resident
        requested_at = self._clock()
        entry = self._entries.get(key)
        if entry is None and inline:
            quick = self._load_inline(key, load, size_hint, requested_at)
            if quick is not None:
                return quick
        if entry is None:
            entry = self._start_load(key, load, size_hint)
        assert entry.task is not None
        self._counters.misses += 1
        entry.waiters += 1
        try:
            model = await asyncio.shield(entry.task)
        except BaseException:  # failed, or this request was cancelled: the load goes on
            entry.waiters -= 1
            self._counters.wait_seconds_total += self._clock() - requested_at
            if not entry.held:
                self._after_release(entry)
            raise
        # Waiter becomes lease with no await in between, so the model cannot be evicted here.
        entry.waiters -= 1
        entry.leases += 1
        entry.last_used = self._clock()
        self._counters.wait_seconds_total += entry.last_used - requested_at
        return Lease(
            key,
            model,
            hit=False,
            wait_seconds=entry.last_used - requested_at,
            load_seconds=entry.load_seconds,
            release=functools.partial(self._release, entry),
        )

    def lease_resident(self, key: str) -> Lease[M] | None:
        """A lease on ``key`` if it is resident (a hit), else None: no coroutine on the hot path."""
        entry = self._entries.get(key)
        if entry is not None and entry.state is EntryState.RESIDENT:
            return self._hit(entry)
        return None

    async def preload(
        self, key: str, load: Callable[[], M], size_hint: int, pin: bool = False
    ) -> None:
        """Make ``key`` resident without leasing it (warm-up, restoring the hot set)."""
        if pin:
            self.pin(key)
        entry = self._entries.get(key)
        if entry is not None and entry.state is EntryState.RESIDENT:
            return
        if entry is None:
            entry = self._start_load(key, load, size_hint)
        assert entry.task is not None
        await asyncio.shield(entry.task)

    def pin(self, key: str) -> None:
        """Never evict ``key``; remembered for a key not resident yet, so its next load stays."""
        self._pinned.add(key)

    def unpin(self, key: str) -> None:
        """Let ``key`` be evicted again."""
        self._pinned.discard(key)
        entry = self._entries.get(key)
        if entry is not None and not entry.held:
            self._after_release(entry)

    def evict(self, key: str) -> bool:
        """Unload ``key`` now, or when its last lease is released; ``False`` if not resident.

        An explicit eviction overrides a pin (the pin is kept for the next load).
        """
        entry = self._entries.get(key)
        if entry is None or entry.state is EntryState.LOADING:
            return False
        if entry.held:
            entry.evict_requested = True
        else:
            self._unload(entry, to_make_room=False)
        return True

    def stats(self) -> CacheStats:
        counters = self._counters
        resident = [e for e in self._entries.values() if e.state is EntryState.RESIDENT]
        return CacheStats(
            budget_bytes=self._budget,
            resident_bytes=self._resident_bytes,
            reserved_bytes=self._reserved_bytes,
            resident_models=len(resident),
            loading_models=len(self._entries) - len(resident),
            pinned_models=sum(1 for e in resident if e.key in self._pinned),
            hits=counters.hits,
            misses=counters.misses,
            hit_ratio=counters.hit_ratio,
            loads=counters.loads,
            load_failures=counters.load_failures,
            evictions=counters.evictions,
            load_seconds_total=counters.load_seconds_total,
            wait_seconds_total=counters.wait_seconds_total,
            mean_age_at_eviction_s=counters.mean_age_at_eviction_s,
            max_age_at_eviction_s=counters.age_at_eviction_max,
        )

    def entries(self) -> list[EntryInfo]:
        """One row per loading or resident key, sorted by key."""
        return [self._info(self._entries[key]) for key in sorted(self._entries)]

    def hot_keys(self, limit: int) -> list[str]:
        """The ``limit`` most valuable resident keys, pinned first (to restore after a restart)."""
        ranked = self._policy.ranking()
        pinned = [key for key in ranked if key in self._pinned]
        return (pinned + [key for key in ranked if key not in self._pinned])[: max(limit, 0)]

    def is_resident(self, key: str) -> bool:
        """Whether ``key`` is loaded and ready to serve."""
        entry = self._entries.get(key)
        return entry is not None and entry.state is EntryState.RESIDENT

    def known_footprint(self, key: str) -> int | None:
        """The bytes ``key`` measured at its last load, if it was ever loaded."""
        return self._footprints.get(key)

    def _hit(self, entry: CacheEntry[M]) -> Lease[M]:
        now = self._clock()
        entry.hits += 1
        entry.leases += 1
        entry.last_used = now
        self._policy.touch(entry.key, now)
        self._counters.hits += 1
        model = entry.model
        assert model is not None
        release = functools.partial(self._release, entry)
        return Lease(
            entry.key, model, hit=True, wait_seconds=0.0, load_seconds=0.0, release=release
        )

    def _reservation(self, key: str, size_hint: int) -> int:
        self._check_backoff(key)
        reservation = self._footprints.get(key, size_hint)
        if reservation > self._budget:
            known = "measured" if key in self._footprints else "estimated"
            raise ModelTooLargeError(
                f"model {key!r} needs {reservation} bytes ({known}), more than the whole "
                f"cache budget of {self._budget} bytes"
            )
        return reservation

    def _start_load(self, key: str, load: Callable[[], M], size_hint: int) -> CacheEntry[M]:
        reservation = self._reservation(key, size_hint)
        entry: CacheEntry[M] = CacheEntry(key)
        self._entries[key] = entry
        entry.task = asyncio.create_task(self._load(entry, load, reservation), name=f"load {key}")
        entry.task.add_done_callback(_retrieve_exception)
        return entry

    def _load_inline(
        self, key: str, load: Callable[[], M], size_hint: int, requested_at: float
    ) -> Lease[M] | None:
        """Load ``key`` here and now if it fits without waiting (None: take the usual path)."""
        reservation = self._reservation(key, size_hint)
        if not self._make_room(reservation):
            return None
        entry: CacheEntry[M] = CacheEntry(key)
        self._entries[key] = entry
        self._hold(entry, reservation)
        self._counters.misses += 1
        try:
            loaded = self._load_and_measure(load)
        except Exception as exc:
            raise self._failed(entry, exc) from exc
        model = self._loaded(entry, reservation, *loaded)
        entry.leases += 1
        wait = self._clock() - requested_at
        self._counters.wait_seconds_total += wait
        release = functools.partial(self._release, entry)
        return Lease(
            key,
            model,
            hit=False,
            wait_seconds=wait,
            load_seconds=entry.load_seconds,
            release=release,
        )

    def _check_backoff(self, key: str) -> None:
        failure = self._failures.get(key)
        if failure is None:
            return
        failed_at, cause = failure
        age = self._clock() - failed_at
        if age >= self._failure_backoff_s:
            del self._failures[key]
            return
        raise ModelLoadError(
            f"model {key!r} failed to load {age:.1f}s ago ({cause!r}); not retrying for another "
            f"{self._failure_backoff_s - age:.1f}s"
        ) from cause

    async def _load(self, entry: CacheEntry[M], load: Callable[[], M], reservation: int) -> M:
        try:
            async with self._load_slots:
                await self._reserve(entry, reservation)
                loop = asyncio.get_running_loop()
                model, load_seconds, measured = await loop.run_in_executor(
                    self._executor, self._load_and_measure, load
                )
        except (CapacityError, asyncio.CancelledError):
            self._discard(entry)
            raise
        except Exception as exc:
            raise self._failed(entry, exc) from exc
        return self._loaded(entry, reservation, model, load_seconds, measured)

    def _failed(self, entry: CacheEntry[M], exc: Exception) -> ModelLoadError:
        """Forget a load that raised, remember why (the back-off), and say so."""
        self._discard(entry)
        self._counters.load_failures += 1
        self._failures[entry.key] = (self._clock(), exc)
        logger.warning("loading model %r failed: %r", entry.key, exc)
        return ModelLoadError(f"loading model {entry.key!r} failed: {exc!r}")

    def _loaded(
        self,
        entry: CacheEntry[M],
        reservation: int,
        model: M,
        load_seconds: float,
        measured: int | None,
    ) -> M:
        """Swap the reservation for the measured bytes and make the model resident."""
        key = entry.key
        self._reserved_bytes -= entry.reserved
        entry.reserved = 0
        self._counters.loads += 1
        self._counters.load_seconds_total += load_seconds
        size = reservation if measured is None else measured
        self._footprints[key] = size
        if size > self._budget:
            self._discard(entry)
            raise ModelTooLargeError(
                f"model {key!r} measured {size} bytes once loaded (reserved {reservation}), more "
                f"than the whole cache budget of {self._budget} bytes"
            )
        now = self._clock()
        entry.state, entry.model, entry.size = EntryState.RESIDENT, model, size
        entry.loaded_at = entry.last_used = now
        entry.load_seconds = load_seconds
        self._resident_bytes += size
        self._policy.admit(key, size, load_seconds, now)
        logger.info("loaded model %r: %d bytes in %.3fs", key, size, load_seconds)
        # The reservation was a guess; if the model is bigger, shrink back under budget now.
        self._evict_down(keep=key)
        if size < reservation:
            self._notify_space()
        return model

    def _load_and_measure(self, load: Callable[[], M]) -> tuple[M, float, int | None]:
        # Runs in the executor: touches no cache state, only the new model.
        started = self._clock()
        model = load()
        load_seconds = self._clock() - started
        try:
            measured: int | None = self._meter(model)
        except Exception:  # a meter bug should not fail a good load; keep the reservation
            logger.warning("could not measure the model's footprint", exc_info=True)
            measured = None
        return model, load_seconds, measured

    async def _reserve(self, entry: CacheEntry[M], nbytes: int) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._lease_wait_timeout_s
        while not self._make_room(nbytes):
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise CacheFullError(
                    f"no room to load model {entry.key!r} ({nbytes} bytes) within "
                    f"{self._lease_wait_timeout_s}s: {self._resident_bytes} bytes resident "
                    f"and {self._reserved_bytes} reserved of {self._budget}, and what is "
                    "resident is leased or pinned"
                )
            if self._space_freed is None:
                self._space_freed = asyncio.Event()
            try:
                async with asyncio.timeout(remaining):
                    await self._space_freed.wait()
            except TimeoutError:
                pass  # one last try above, then CacheFullError
        self._hold(entry, nbytes)

    def _hold(self, entry: CacheEntry[M], nbytes: int) -> None:
        """Count ``nbytes`` as reserved for ``entry``'s load (room was made for them)."""
        self._reserved_bytes += nbytes
        entry.reserved = nbytes

    def _make_room(self, nbytes: int) -> bool:
        """Evict until ``nbytes`` fit; if that is impossible right now, evict nothing."""
        free = self._budget - self._resident_bytes - self._reserved_bytes
        if nbytes <= free:
            return True
        victims: list[CacheEntry[M]] = []
        for key in self._policy.victims(self._is_evictable):
            victims.append(self._entries[key])
            free += victims[-1].size
            if nbytes <= free:
                break
        else:
            return False
        for victim in victims:
            self._unload(victim, to_make_room=True)
        return True

    def _evict_down(self, keep: str | None = None) -> None:
        excess = self._resident_bytes + self._reserved_bytes - self._budget
        if excess <= 0:
            return
        victims: list[CacheEntry[M]] = []
        for key in self._policy.victims(lambda k: k != keep and self._is_evictable(k)):
            victims.append(self._entries[key])
            excess -= victims[-1].size
            if excess <= 0:
                break
        for victim in victims:
            self._unload(victim, to_make_room=True)

    def _is_evictable(self, key: str) -> bool:
        entry = self._entries[key]
        return entry.state is EntryState.RESIDENT and not entry.held and key not in self._pinned

    def _release(self, entry: CacheEntry[M]) -> None:
        entry.leases -= 1
        if not entry.held:
            self._after_release(entry)

    def _after_release(self, entry: CacheEntry[M]) -> None:
        if self._entries.get(entry.key) is not entry or entry.state is EntryState.LOADING:
            return
        if entry.evict_requested:
            self._unload(entry, to_make_room=False)
            return
        self._evict_down()  # an earlier load may have left the cache over budget
        self._notify_space()

    def _unload(self, entry: CacheEntry[M], *, to_make_room: bool) -> None:
        del self._entries[entry.key]
        self._resident_bytes -= entry.size
        if to_make_room:
            self._policy.evicted(entry.key)
        else:
            self._policy.remove(entry.key)
        age = self._clock() - (entry.loaded_at or 0.0)
        self._counters.record_eviction(age)
        entry.model = None  # the memory goes as soon as outstanding references do
        logger.debug("evicted model %r (%d bytes, resident %.1fs)", entry.key, entry.size, age)
        self._notify_space()

    def _discard(self, entry: CacheEntry[M]) -> None:
        # A load that did not make it: give back its reservation, leave nothing behind.
        if self._entries.get(entry.key) is entry:
            del self._entries[entry.key]
        self._reserved_bytes -= entry.reserved
        entry.reserved = 0
        self._notify_space()

    def _notify_space(self) -> None:
        if self._space_freed is not None:
            self._space_freed.set()
            self._space_freed = None

    def _info(self, entry: CacheEntry[M]) -> EntryInfo:
        policy_entry = self._policy.find(entry.key)
        return EntryInfo(
            key=entry.key,
            bytes=entry.size if entry.state is EntryState.RESIDENT else entry.reserved,
            state=entry.state,
            hits=entry.hits,
            leases=entry.leases + entry.waiters,
            pinned=entry.key in self._pinned,
            protected=policy_entry is not None and policy_entry.segment is Segment.PROTECTED,
            loaded_at=entry.loaded_at,
            last_used=entry.last_used,
            load_seconds=entry.load_seconds,
        )
