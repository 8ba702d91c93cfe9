"""The eviction policy: which resident model to unload first (segmented GreedyDual-Size-Frequency).

Pure bookkeeping over entry statistics; it knows nothing of asyncio, leases or loading. The cache
tells it what was admitted, touched and evicted, and asks it for victims in order.

Why this shape:

* **Value-aware.** Unloading a model costs its next load; keeping it costs its bytes. Greedy-
  Dual-Size-Frequency ranks an entry by ``H = L + frequency * load_cost / size``: big, cheap to
  reload, rarely used models go first. ``L`` (the inflation value) becomes the ``H`` of each
  evicted entry, so entries touched recently start from a higher baseline than ones whose ``H``
  was set long ago: that is how recency enters, and how stale hot entries eventually age out.
* **Scan-resistant.** A burst of one-off requests (a batch job walking every customer's model)
  must not flush the models serving live traffic. New entries enter a *probation* segment; only a
  second hit promotes them to the *protected* segment, capped at ``protected_ratio`` of the
  budget. Victims come from probation first, so a scan mostly evicts itself.
* **Incremental.** Each segment keeps its entries in a heap with lazy deletion: a touch pushes a
  fresh record and leaves the old one to be skipped, so finding the next victim or the protected
  entry to demote costs O(log n), not a sort of every resident model (which cost milliseconds per
  eviction at 10,000 models).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from enum import StrEnum

MIN_LOAD_COST_S = 1e-3
"""Floor on load cost: an instant load still costs something, so size keeps mattering."""


class Segment(StrEnum):
    """Where an entry sits: probation (seen once) or protected (seen again)."""

    PROBATION = "probation"
    PROTECTED = "protected"


def gdsf_priority(inflation: float, frequency: int, load_cost_s: float, size_bytes: int) -> float:
    """GreedyDual-Size-Frequency value of an entry: higher is more worth keeping."""
    return inflation + frequency * max(load_cost_s, MIN_LOAD_COST_S) / max(size_bytes, 1)


@dataclass(slots=True)
class PolicyEntry:
    """The policy's view of one resident model (mutable: the policy updates it in place)."""

    key: str
    size_bytes: int
    load_cost_s: float
    frequency: int
    last_used: float
    priority: float
    segment: Segment
    stamp: int = 0
    """Sequence number of this entry's live heap record; older records are stale."""

    def rank(self) -> tuple[float, float]:
        """Sort key, least valuable first: priority, then least recently used among equals."""
        return (self.priority, self.last_used)


_Record = tuple[float, float, int, PolicyEntry]
"""A heap record: priority, last use, stamp (unique, so entries never compare), entry."""


@dataclass(slots=True)
class _Ranked:
    """One segment: entries by key plus a lazy-deletion min-heap of their ranks."""

    entries: dict[str, PolicyEntry] = field(default_factory=dict)
    heap: list[_Record] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.entries)

    def put(self, entry: PolicyEntry, stamp: int) -> None:
        """Add ``entry`` or record its new rank; its older heap records become stale."""
        self.entries[entry.key] = entry
        entry.stamp = stamp
        heapq.heappush(self.heap, (entry.priority, entry.last_used, stamp, entry))
        if len(self.heap) > 2 * len(self.entries) + 64:
            self.heap = [r for r in self.heap if self._live(r)]
            heapq.heapify(self.heap)

    def pop(self, key: str) -> PolicyEntry | None:
        return self.entries.pop(key, None)

    def _live(self, record: _Record) -> bool:
        entry = record[3]
        return record[2] == entry.stamp and self.entries.get(entry.key) is entry

    def ascending(self, evictable: Callable[[str], bool]) -> Generator[PolicyEntry, None, None]:
        """Live entries least valuable first, popped as needed and restored when iteration ends."""
        taken: list[_Record] = []
        try:
            while self.heap:
                record = heapq.heappop(self.heap)
                if not self._live(record):
                    continue
                taken.append(record)
                if evictable(record[3].key):
                    yield record[3]
        finally:
            for record in taken:
                heapq.heappush(self.heap, record)


class SegmentedGdsfPolicy:
    """Probation + protected segments, each ordered by GDSF priority."""

    def __init__(self, capacity_bytes: int, protected_ratio: float = 0.8) -> None:
        if capacity_bytes <= 0:
            raise ValueError(f"capacity_bytes must be positive, got {capacity_bytes}")
        if not 0.0 <= protected_ratio <= 1.0:
            raise ValueError(f"protected_ratio must be within [0, 1], got {protected_ratio}")
        self._protected_capacity = int(capacity_bytes * protected_ratio)
        self._probation = _Ranked()
        self._protected = _Ranked()
        self._protected_bytes = 0
        self._inflation = 0.0
        self._stamps = 0

    @property
    def inflation(self) -> float:
        """``L``: the priority of the last entry evicted."""
        return self._inflation

    @property
    def protected_bytes(self) -> int:
        return self._protected_bytes

    @property
    def protected_capacity(self) -> int:
        return self._protected_capacity

    def __len__(self) -> int:
        return len(self._probation) + len(self._protected)

    def __contains__(self, key: object) -> bool:
        return key in self._probation.entries or key in self._protected.entries

    def find(self, key: str) -> PolicyEntry | None:
        return self._probation.entries.get(key) or self._protected.entries.get(key)

    def admit(self, key: str, size_bytes: int, load_cost_s: float, now: float) -> None:
        """A newly loaded model: its load counts as its first use, and it starts on probation."""
        if key in self:
            raise ValueError(f"{key!r} is already admitted")
        priority = gdsf_priority(self._inflation, 1, load_cost_s, size_bytes)
        entry = PolicyEntry(key, size_bytes, load_cost_s, 1, now, priority, Segment.PROBATION)
        self._probation.put(entry, self._stamp())

    def touch(self, key: str, now: float) -> None:
        """A hit: count it, re-rank from the current ``L``, promote on the second use."""
        entry = self.find(key)
        if entry is None:
            raise KeyError(key)
        entry.frequency += 1
        entry.last_used = now
        entry.priority = gdsf_priority(
            self._inflation, entry.frequency, entry.load_cost_s, entry.size_bytes
        )
        # An entry that alone overflows the protected segment would only push everything else
        # out of it; it stays on probation, ranked by value like the rest.
        if entry.segment is Segment.PROBATION and entry.size_bytes <= self._protected_capacity:
            self._probation.pop(key)
            entry.segment = Segment.PROTECTED
            self._protected.put(entry, self._stamp())
            self._protected_bytes += entry.size_bytes
            self._demote_overflow(keep=key)
        elif entry.segment is Segment.PROTECTED:
            self._protected.put(entry, self._stamp())
        else:
            self._probation.put(entry, self._stamp())

    def remove(self, key: str) -> None:
        """Forget an entry unloaded for a reason other than making room (``L`` is unchanged)."""
        entry = self._probation.pop(key)
        if entry is None:
            entry = self._protected.pop(key)
            if entry is not None:
                self._protected_bytes -= entry.size_bytes

    def evicted(self, key: str) -> None:
        """Forget an entry unloaded to make room; ``L`` rises to its priority."""
        entry = self.find(key)
        if entry is None:
            raise KeyError(key)
        self._inflation = max(self._inflation, entry.priority)
        self.remove(key)

    def victims(self, evictable: Callable[[str], bool]) -> Iterator[str]:
        """Keys in eviction order: probation by rank, then protected by rank.

        ``evictable`` filters out what the cache must keep (pinned or leased models). Each step
        costs O(log n); the protected segment is only reached if probation runs out, which a
        scan rarely lets happen. Consume the keys (or close the iterator) before admitting,
        touching or removing entries.
        """
        for segment in (self._probation, self._protected):
            for entry in segment.ascending(evictable):
                yield entry.key

    def ranking(self) -> list[str]:
        """All keys, most valuable first: protected before probation, each by rank."""
        ordered: list[str] = []
        for segment in (self._protected, self._probation):
            ordered.extend(
                e.key for e in sorted(segment.entries.values(), key=PolicyEntry.rank, reverse=True)
            )
        return ordered

    def _stamp(self) -> int:
        self._stamps += 1
        return self._stamps

    def _demote_overflow(self, keep: str) -> None:
        # Over the cap, the least valuable protected entries go back to probation (keeping their
        # frequency), where they compete with newcomers instead of being evicted outright.
        while self._protected_bytes > self._protected_capacity:
            ranked = self._protected.ascending(lambda key: key != keep)
            loser = next(ranked, None)
            ranked.close()  # puts the records it popped back
            if loser is None:
                return
            self._protected.pop(loser.key)
            self._protected_bytes -= loser.size_bytes
            loser.segment = Segment.PROBATION
            self._probation.put(loser, self._stamp())
