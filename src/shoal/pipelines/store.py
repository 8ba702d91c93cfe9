"""The storage role pipelines need; ``shoal.storage`` implements it (SQL, memory)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Protocol

from shoal.pipelines.records import (
    ItemRecord,
    RunQuery,
    RunRecord,
    RunStatus,
    SnapshotRecord,
    StepRecord,
)
from shoal.registry.records import Page, PageRequest


class RunStore(Protocol):
    """Runs, their steps, item outcomes and snapshots.

    Every method is one transaction. ``record`` is the hot path: the runner buffers item
    outcomes and writes them in batches, so a batch is either wholly recorded or not at all.
    Unknown runs raise ``NotFoundError``; driver failures raise ``StorageError``.
    """

    def add_run(self, run: RunRecord, steps: Sequence[StepRecord]) -> None:
        """Record a new run with its steps; ``ConflictError`` if the id exists."""
        ...

    def find_run(self, run_id: str) -> RunRecord | None: ...

    def list_runs(self, query: RunQuery, page: PageRequest) -> Page[RunRecord]:
        """Runs, newest first."""
        ...

    def claim_run(self, run_id: str, expected_owner: str, owner: str, at: datetime) -> RunRecord:
        """Mark the run running under ``owner`` if its owner is still ``expected_owner``.

        Compare-and-set, so two processes resuming one run cannot both win: the loser gets a
        ``ConflictError``. Counts one more attempt.
        """
        ...

    def record(
        self,
        run_id: str,
        owner: str,
        at: datetime,
        items: Sequence[ItemRecord] = (),
        steps: Sequence[StepRecord] = (),
        snapshots: Sequence[SnapshotRecord] = (),
    ) -> None:
        """Upsert item outcomes, step states and snapshots, and beat the run's heartbeat.

        ``ConflictError`` if another runner took the run over (its owner is not ``owner``).
        """
        ...

    def finish_run(
        self, run_id: str, owner: str, status: RunStatus, at: datetime, error: str = ""
    ) -> RunRecord:
        """Set the final status; the owner is cleared."""
        ...

    def list_steps(self, run_id: str) -> list[StepRecord]:
        """The run's steps in graph order."""
        ...

    def list_items(self, run_id: str, step: str | None = None) -> list[ItemRecord]:
        """Recorded items of a run (or of one step), by step position then index."""
        ...

    def find_cached(self, cache_keys: Iterable[str]) -> Mapping[str, ItemRecord]:
        """Succeeded items of any run with one of these cache keys, one per key."""
        ...

    def list_snapshots(self, run_id: str) -> list[SnapshotRecord]: ...
