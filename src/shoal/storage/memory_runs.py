"""``InMemoryRunStore``: a small, real, thread-safe ``RunStore`` (the contract suite's fake)."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime

from shoal.errors import ConflictError, NotFoundError
from shoal.pipelines.records import (
    ItemRecord,
    ItemStatus,
    RunQuery,
    RunRecord,
    RunStatus,
    SnapshotRecord,
    StepRecord,
)
from shoal.registry.pages import check_page, decode_cursor, encode_cursor
from shoal.registry.records import Page, PageRequest


class InMemoryRunStore:
    """Runs, steps, items and snapshots in dictionaries behind one lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._runs: dict[str, RunRecord] = {}
        self._steps: dict[str, dict[str, StepRecord]] = {}
        self._items: dict[str, dict[tuple[str, int], ItemRecord]] = {}
        self._snapshots: dict[str, dict[tuple[str, int, str], SnapshotRecord]] = {}

    def add_run(self, run: RunRecord, steps: Sequence[StepRecord]) -> None:
        with self._lock:
            if run.id in self._runs:
                raise ConflictError(f"run {run.id!r} already exists")
            self._runs[run.id] = run
            self._steps[run.id] = {step.name: step for step in steps}
            self._items[run.id] = {}
            self._snapshots[run.id] = {}

    def find_run(self, run_id: str) -> RunRecord | None:
        with self._lock:
            return self._runs.get(run_id)

    def _get(self, run_id: str) -> RunRecord:
        run = self._runs.get(run_id)
        if run is None:
            raise NotFoundError(f"run {run_id!r} does not exist")
        return run

    def list_runs(self, query: RunQuery, page: PageRequest) -> Page[RunRecord]:
        check_page(page)
        with self._lock:
            runs = [
                run
                for run in self._runs.values()
                if (query.pipeline is None or run.pipeline == query.pipeline)
                and (query.status is None or run.status == query.status)
            ]
        runs.sort(key=lambda run: (run.created_at, run.id), reverse=True)
        if page.cursor is not None:
            at, run_id = decode_cursor(page.cursor)
            runs = [r for r in runs if (r.created_at.isoformat(), r.id) < (str(at), str(run_id))]
        chosen = runs[: page.limit]
        more = len(runs) > page.limit
        cursor = encode_cursor(chosen[-1].created_at.isoformat(), chosen[-1].id) if more else None
        return Page(tuple(chosen), cursor)

    def claim_run(self, run_id: str, expected_owner: str, owner: str, at: datetime) -> RunRecord:
        with self._lock:
            run = self._get(run_id)
            if run.owner != expected_owner:
                raise ConflictError(f"run {run_id} was taken over by {run.owner or 'another'}")
            claimed = replace(
                run,
                owner=owner,
                status=RunStatus.RUNNING,
                heartbeat_at=at,
                finished_at=None,
                error="",
                attempts=run.attempts + 1,
            )
            self._runs[run_id] = claimed
            return claimed

    def record(
        self,
        run_id: str,
        owner: str,
        at: datetime,
        items: Sequence[ItemRecord] = (),
        steps: Sequence[StepRecord] = (),
        snapshots: Sequence[SnapshotRecord] = (),
    ) -> None:
        with self._lock:
            run = self._get(run_id)
            if run.owner != owner:
                raise ConflictError(f"run {run_id} is now run by {run.owner or 'nobody'}")
            self._runs[run_id] = replace(run, heartbeat_at=at)
            for item in items:
                self._items[run_id][(item.step, item.index)] = item
            for step in steps:
                self._steps[run_id][step.name] = step
            for snapshot in snapshots:
                key = (snapshot.step, snapshot.index, snapshot.name)
                self._snapshots[run_id][key] = snapshot

    def finish_run(
        self, run_id: str, owner: str, status: RunStatus, at: datetime, error: str = ""
    ) -> RunRecord:
        with self._lock:
            run = self._get(run_id)
            if run.owner != owner:
                raise ConflictError(f"run {run_id} is now run by {run.owner or 'nobody'}")
            done = replace(
                run, status=status, finished_at=at, heartbeat_at=at, error=error, owner=""
            )
            self._runs[run_id] = done
            return done

    def list_steps(self, run_id: str) -> list[StepRecord]:
        with self._lock:
            self._get(run_id)
            return sorted(self._steps[run_id].values(), key=lambda step: step.position)

    def list_items(self, run_id: str, step: str | None = None) -> list[ItemRecord]:
        with self._lock:
            self._get(run_id)
            positions = {s.name: s.position for s in self._steps[run_id].values()}
            items = [i for i in self._items[run_id].values() if step is None or i.step == step]
        return sorted(items, key=lambda item: (positions.get(item.step, 0), item.index))

    def find_cached(self, cache_keys: Iterable[str]) -> Mapping[str, ItemRecord]:
        wanted = set(cache_keys)
        found: dict[str, ItemRecord] = {}
        with self._lock:
            for items in self._items.values():
                for item in items.values():
                    if item.cache_key in wanted and item.status is ItemStatus.SUCCEEDED:
                        found.setdefault(item.cache_key, item)
        return found

    def list_snapshots(self, run_id: str) -> list[SnapshotRecord]:
        with self._lock:
            self._get(run_id)
            snapshots = list(self._snapshots[run_id].values())
        return sorted(snapshots, key=lambda s: (s.step, s.index, s.name))
