"""One execution of a run's graph: items to workers, outcomes back, retries, batched records.

The loop keeps at most ``2 * slots`` batches in flight (submission is throttled; the queue of
pending items holds only small task records, so a fan-out has no cap). Batches are sized from
the measured item time (about ``BATCH_TARGET_S`` of work each), so 10,000 empty items cost a few
hundred round trips while slow items still spread over every worker.

Outcomes are recorded in batches: at most every ``flush_interval_s`` or ``flush_items``
outcomes, one transaction each. The guarantee after a crash (even SIGKILL) is exact: an item
recorded as succeeded is never run again by ``resume`` and its output is kept (outputs are
stored before the outcome is recorded); an item not yet recorded runs again. So the work redone
after a crash is at most what finished within the last flush interval (plus what was running).
"""

from __future__ import annotations

import heapq
import itertools
import logging
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, field, replace
from datetime import datetime

from shoal.errors import ShoalError
from shoal.pipelines.environment import StepEnvironment
from shoal.pipelines.executors.base import StepExecutor, WorkerLostError
from shoal.pipelines.graph import Node, NodeInput, Pipeline
from shoal.pipelines.items import plan_items
from shoal.pipelines.records import (
    ItemRecord,
    ItemStatus,
    JsonValue,
    SnapshotRecord,
    StepRecord,
    StepStatus,
    ValueRef,
)
from shoal.pipelines.store import RunStore
from shoal.pipelines.worker import ItemOutcome, ItemTask

logger = logging.getLogger(__name__)

Progress = Callable[[int, int], None]
"""Told (items finished, items known so far) after each batch of records is written."""

BATCH_TARGET_S = 0.05
MAX_BATCH = 256
HEARTBEAT_S = 5.0


@dataclass(slots=True)
class _NodeState:
    node: Node
    record: StepRecord
    outputs: list[ValueRef | None] = field(default_factory=list)
    remaining: int = 0
    failed: int = 0
    first_error: str = ""
    retries_left: int | None = None
    item_seconds: float = 0.0
    cancelled: bool = False


@dataclass(frozen=True, slots=True)
class Plan:
    """What an execution may reuse: succeeded items of this run, snapshots to pin, the cache."""

    reuse: Mapping[tuple[str, int], ItemRecord] = field(default_factory=dict)
    pinned: Mapping[tuple[str, int], Mapping[str, SnapshotRecord]] = field(default_factory=dict)
    use_cache: bool = True


class Dispatch:
    """Runs every node of ``pipeline`` for run ``run_id`` on ``executor``."""

    def __init__(
        self,
        run_id: str,
        owner: str,
        pipeline: Pipeline,
        params: Mapping[str, JsonValue],
        store: RunStore,
        executor: StepExecutor,
        env: StepEnvironment,
        plan: Plan,
        steps: Sequence[StepRecord],
        *,
        flush_interval_s: float,
        flush_items: int,
        clock: Callable[[], datetime],
        progress: Progress | None = None,
    ) -> None:
        self._run_id, self._owner, self._pipeline = run_id, owner, pipeline
        self._params, self._store, self._executor = params, store, executor
        self._env, self._plan, self._clock = env, plan, clock
        self._flush_interval_s, self._flush_items = flush_interval_s, flush_items
        recorded = {record.name: record for record in steps}
        self._states = {node.name: _NodeState(node, recorded[node.name]) for node in pipeline.nodes}
        self._order = {node.name: position for position, node in enumerate(pipeline.nodes)}
        self._downstream: dict[str, list[str]] = {node.name: [] for node in pipeline.nodes}
        for node in pipeline.nodes:
            for upstream in node.upstream():
                self._downstream[upstream].append(node.name)
        self._check: set[str] = set(self._order)
        """Nodes whose state may have changed: only these are looked at by ``_advance``."""
        self._pending: deque[ItemTask] = deque()
        self._delayed: list[tuple[float, int, ItemTask]] = []
        self._seq = itertools.count()
        self._inflight: dict[Future[list[ItemOutcome]], tuple[list[ItemTask], int]] = {}
        self._generation = 0
        """Bumped when the executor is restarted after a worker died: batches of an older
        generation that fail too are lost with the old pool, not a reason to restart again."""
        self._items: list[ItemRecord] = []
        self._snapshots: list[SnapshotRecord] = []
        self._dirty_steps: dict[str, StepRecord] = {}
        self._last_flush = time.monotonic()
        self._keys: dict[tuple[str, int], tuple[str, str]] = {}
        # Snapshot ids behind each item's output: its own snapshots plus its inputs' (lineage).
        self._lineage: dict[tuple[str, int], tuple[str, ...]] = {
            key: tuple(s.digest for s in pinned.values()) for key, pinned in plan.pinned.items()
        }
        self._key = f"{run_id}:{pipeline.digest()[:12]}"
        self._progress = progress
        self._planned = 0
        self._finished = 0

    def execute(self) -> dict[str, StepRecord]:
        """Run to the end; returns the final step records. Interrupts still flush what finished."""
        self._executor.start(self._key, self._pipeline)
        try:
            self._advance()
            while self._pending or self._delayed or self._inflight:
                self._submit()
                self._collect()
                self._release_due()
                self._advance()
                self._flush(force=False)
        finally:
            self._executor.shutdown()
            self._flush(force=True)
        return {name: state.record for name, state in self._states.items()}

    # -- nodes -----------------------------------------------------------------------------

    def _advance(self) -> None:
        """Start nodes whose inputs are ready; finish nodes whose items are all done."""
        while self._check:
            name = min(self._check, key=self._order.__getitem__)
            self._check.discard(name)
            state = self._states[name]
            status = state.record.status
            if status is StepStatus.RUNNING and state.remaining == 0:
                self._finish_node(state)
            elif status is StepStatus.PENDING:
                upstream = [self._states[u].record.status for u in state.node.upstream()]
                if any(s in (StepStatus.FAILED, StepStatus.SKIPPED) for s in upstream):
                    self._set_step(name, status=StepStatus.SKIPPED, finished_at=self._clock())
                    self._check.update(self._downstream[name])
                elif all(s is StepStatus.SUCCEEDED for s in upstream):
                    self._start_node(state)
                    if state.remaining == 0:
                        self._finish_node(state)

    def _start_node(self, state: _NodeState) -> None:
        node, now = state.node, self._clock()
        upstream = [self._states[name] for name in node.upstream()]
        outputs = {s.node.name: [r for r in s.outputs if r is not None] for s in upstream}
        fanned = {s.node.name: s.node.fan_out for s in upstream}
        try:
            planned = plan_items(node, self._params, outputs, fanned, self._env)
        except ShoalError as exc:
            state.failed, state.first_error = 1, f"{type(exc).__name__}: {exc}"
            self._set_step(node.name, status=StepStatus.RUNNING, started_at=now, items=0)
            return
        self._set_step(node.name, status=StepStatus.RUNNING, started_at=now, items=len(planned))
        self._planned += len(planned)
        self._finished += len(planned)  # reused items; those that run are subtracted below
        state.outputs = [None] * len(planned)
        state.retries_left = node.step.retry.budget_for(len(planned)) if node.fan_out else None
        cached = self._cached([item.cache_key for item in planned], node)
        transient = node.step.retry.transient_names
        for item in planned:
            self._keys[(node.name, item.index)] = (item.key, item.cache_key)
            lineage = self._inputs_lineage(node, item.index)
            self._lineage[(node.name, item.index)] = tuple(
                sorted({*lineage, *self._lineage.get((node.name, item.index), ())})
            )
            previous = self._plan.reuse.get((node.name, item.index))
            if previous is not None and previous.cache_key == item.cache_key:
                state.outputs[item.index] = previous.output
                continue
            hit = cached.get(item.cache_key)
            if hit is not None:
                state.outputs[item.index] = hit.output
                self._items.append(
                    replace(
                        hit,
                        run_id=self._run_id,
                        step=node.name,
                        index=item.index,
                        key=item.key,
                        reused_from=hit.reused_from or hit.run_id,
                    )
                )
                continue
            state.remaining += 1
            self._finished -= 1
            self._pending.append(
                ItemTask(
                    self._run_id,
                    self._key,
                    self._pipeline.reference,
                    node.name,
                    item.index,
                    item.key,
                    1,
                    item.args,
                    transient,
                    dict(self._plan.pinned.get((node.name, item.index), {})),
                    lineage,
                )
            )

    def _inputs_lineage(self, node: Node, index: int) -> tuple[str, ...]:
        found: set[str] = set()
        for arg, source in node.inputs.items():
            if not isinstance(source, NodeInput):
                continue
            upstream = self._states[source.node]
            if arg in node.mapped and upstream.node.fan_out:
                indexes: range | list[int] = [index]
            else:
                indexes = range(len(upstream.outputs)) if upstream.node.fan_out else [0]
            for i in indexes:
                found.update(self._lineage.get((source.node, i), ()))
        return tuple(sorted(found))

    def _cached(self, keys: list[str], node: Node) -> Mapping[str, ItemRecord]:
        if not (node.step.cache and self._plan.use_cache):
            return {}
        return self._store.find_cached(keys)

    def _finish_node(self, state: _NodeState) -> None:
        if state.failed:
            total = state.record.items or 0
            error = (
                f"{state.failed} of {total} items failed; first: {state.first_error}"
                if total
                else state.first_error
            )
            status = StepStatus.FAILED
        else:
            error, status = "", StepStatus.SUCCEEDED
        self._set_step(state.node.name, status=status, finished_at=self._clock(), error=error)
        self._check.update(self._downstream[state.node.name])

    def _set_step(self, name: str, **changes: object) -> None:
        state = self._states[name]
        state.record = replace(state.record, **changes)  # type: ignore[arg-type]
        self._dirty_steps[name] = state.record

    # -- items -----------------------------------------------------------------------------

    def _submit(self) -> None:
        capacity = 2 * self._executor.slots
        while self._pending and len(self._inflight) < capacity:
            size = self._batch_size()
            batch = [self._pending.popleft() for _ in range(min(size, len(self._pending)))]
            self._inflight[self._executor.submit(batch)] = (batch, self._generation)

    def _batch_size(self) -> int:
        head = self._states[self._pending[0].node]
        per_item = head.item_seconds
        if per_item <= 0:
            size = 1 if not head.outputs or len(head.outputs) < 4 * self._executor.slots else 8
        else:
            size = int(BATCH_TARGET_S / per_item)
        # Leave work for every worker: never more than a fair share of what is pending.
        fair = -(-len(self._pending) // (2 * self._executor.slots))
        return max(1, min(size, MAX_BATCH, fair))

    def _collect(self) -> None:
        # Wake up for the next flush when records wait, else only for the heartbeat: a loop
        # that waited on a zero timeout would spin while long items run.
        unrecorded = self._items or self._dirty_steps or self._snapshots
        limit = self._flush_interval_s if unrecorded else HEARTBEAT_S
        timeout = max(0.0, limit - (time.monotonic() - self._last_flush))
        if self._delayed:
            timeout = min(timeout, max(0.0, self._delayed[0][0] - time.monotonic()))
        if not self._inflight:
            time.sleep(timeout)
            return
        done, _ = wait(list(self._inflight), timeout=timeout, return_when=FIRST_COMPLETED)
        for future in done:
            batch, generation = self._inflight.pop(future)
            try:
                outcomes = future.result()
            except WorkerLostError as exc:
                logger.warning(
                    "run %s: %s; its %d items count as failed", self._run_id, exc, len(batch)
                )
                if generation == self._generation:
                    self._executor.shutdown()
                    self._executor.start(self._key, self._pipeline)
                    self._generation += 1
                outcomes = [self._lost(task, str(exc)) for task in batch]
            for task, outcome in zip(batch, outcomes, strict=True):
                self._handle(task, outcome)

    def _lost(self, task: ItemTask, reason: str) -> ItemOutcome:
        now = self._clock()
        return ItemOutcome(
            task.node,
            task.index,
            task.attempt,
            now,
            now,
            error=f"WorkerLostError: {reason}",
            transient=True,
        )

    def _handle(self, task: ItemTask, outcome: ItemOutcome) -> None:
        state = self._states[outcome.node]
        task_key, cache_key = self._keys[(outcome.node, outcome.index)]
        seconds = (outcome.finished_at - outcome.started_at).total_seconds()
        state.item_seconds = (
            seconds if state.item_seconds <= 0 else (0.8 * state.item_seconds + 0.2 * seconds)
        )
        self._snapshots.extend(outcome.snapshots)
        if outcome.snapshots:
            key = (outcome.node, outcome.index)
            taken = {s.digest for s in outcome.snapshots}
            self._lineage[key] = tuple(sorted({*self._lineage.get(key, ()), *taken}))
        status = ItemStatus.SUCCEEDED
        if not outcome.ok:
            status = self._retry_or_fail(state, task, outcome)
        if status is not ItemStatus.RETRYING:
            state.remaining -= 1
            self._finished += 1
            if state.remaining == 0:
                self._check.add(state.node.name)
        if status is ItemStatus.SUCCEEDED:
            state.outputs[outcome.index] = outcome.output
        self._items.append(
            ItemRecord(
                self._run_id,
                outcome.node,
                outcome.index,
                task_key,
                status,
                outcome.attempt,
                cache_key,
                outcome.started_at,
                outcome.finished_at,
                outcome.output,
                dict(outcome.metrics),
                outcome.logs,
                outcome.error,
                outcome.registered,
            )
        )

    def _retry_or_fail(self, state: _NodeState, task: ItemTask, outcome: ItemOutcome) -> ItemStatus:
        retry = state.node.step.retry
        budget_ok = state.retries_left is None or state.retries_left > 0
        if outcome.transient and outcome.attempt < retry.attempts and budget_ok:
            if state.retries_left is not None:
                state.retries_left -= 1
            due = time.monotonic() + retry.delay_s(outcome.attempt)
            again = replace(task, attempt=outcome.attempt + 1)
            heapq.heappush(self._delayed, (due, next(self._seq), again))
            return ItemStatus.RETRYING
        state.failed += 1
        if not state.first_error:
            state.first_error = outcome.error.splitlines()[0] if outcome.error else "failed"
        if state.node.step.fail_fast and not state.cancelled:
            self._cancel(state)
        return ItemStatus.FAILED

    def _cancel(self, state: _NodeState) -> None:
        """``fail_fast``: items of this step not started yet stay unrun (resume runs them)."""
        state.cancelled = True
        kept = deque(task for task in self._pending if task.node != state.node.name)
        dropped = len(self._pending) - len(kept)
        dropped += sum(1 for _, _, task in self._delayed if task.node == state.node.name)
        self._delayed = [entry for entry in self._delayed if entry[2].node != state.node.name]
        heapq.heapify(self._delayed)
        self._pending = kept
        state.remaining -= dropped
        if state.remaining == 0:
            self._check.add(state.node.name)

    def _release_due(self) -> None:
        now = time.monotonic()
        while self._delayed and self._delayed[0][0] <= now:
            self._pending.append(heapq.heappop(self._delayed)[2])

    def _flush(self, force: bool) -> None:
        elapsed = time.monotonic() - self._last_flush
        due = len(self._items) >= self._flush_items or (
            elapsed >= self._flush_interval_s
            and (self._items or self._dirty_steps or self._snapshots)
        )
        if not (force or due or elapsed >= HEARTBEAT_S):
            return
        items, steps, snapshots = self._items, list(self._dirty_steps.values()), self._snapshots
        self._store.record(self._run_id, self._owner, self._clock(), items, steps, snapshots)
        self._items, self._dirty_steps, self._snapshots = [], {}, []
        self._last_flush = time.monotonic()
        if self._progress is not None:
            self._progress(self._finished, self._planned)
