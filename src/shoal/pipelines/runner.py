"""Runs pipelines, and resumes or re-runs recorded runs; tells listeners when a run ends.

``run`` checks the parameters (before anything is recorded or run), records the run and its
steps, and executes the graph. ``resume`` takes over a failed or abandoned run — one whose
runner died: same host and its process is gone, or its heartbeat is older than
``STALE_AFTER_S`` — and runs only items that are not recorded as succeeded with the same cache
key. ``rerun`` starts a new run with the original's parameters and data snapshots after
checking that no step's code changed.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta

from shoal.errors import ConflictError, NotFoundError, ValidationError
from shoal.pipelines.dispatch import Dispatch, Plan, Progress
from shoal.pipelines.environment import StepEnvironment
from shoal.pipelines.executors.base import StepExecutor
from shoal.pipelines.graph import Pipeline
from shoal.pipelines.listeners import RunListener
from shoal.pipelines.loader import load_pipeline
from shoal.pipelines.records import (
    ItemStatus,
    JsonValue,
    RunRecord,
    RunStatus,
    SnapshotRecord,
    StepRecord,
    StepStatus,
)
from shoal.pipelines.store import RunStore

logger = logging.getLogger(__name__)

STALE_AFTER_S = 60.0
"""A running run whose owner is on another host is taken over after this much silence."""

ExecutorFactory = Callable[[], StepExecutor]


def utc_now() -> datetime:
    return datetime.now(UTC)


def new_run_id(at: datetime) -> str:
    """Sortable by start time and unique: ``20250301-123015-3f9a1c``."""
    return f"{at:%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"


def this_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def owner_alive(owner: str, heartbeat_at: datetime | None, now: datetime) -> bool:
    """Whether the runner named ``owner`` may still be running."""
    host, _, pid = owner.rpartition(":")
    if not owner:
        return False
    if host == socket.gethostname() and pid.isdigit():
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    return heartbeat_at is not None and now - heartbeat_at < timedelta(seconds=STALE_AFTER_S)


class Runner:
    """Runs pipelines on an executor chosen by name (``local``, ``ray``)."""

    def __init__(
        self,
        store: RunStore,
        env: StepEnvironment,
        executors: Mapping[str, ExecutorFactory],
        default_executor: str = "local",
        listeners: Sequence[RunListener] = (),
        actor: str = "pipeline",
        *,
        flush_interval_s: float = 0.2,
        flush_items: int = 1000,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._store = store
        self._env = env
        self._executors = executors
        self._default = default_executor
        self._listeners = tuple(listeners)
        self._actor = actor
        self._flush_interval_s = flush_interval_s
        self._flush_items = flush_items
        self._clock = clock
        self._owner = this_owner()

    @property
    def store(self) -> RunStore:
        return self._store

    def run(
        self,
        pipeline: Pipeline,
        params: Mapping[str, object] | None = None,
        executor: str | None = None,
        progress: Progress | None = None,
    ) -> RunRecord:
        """Run ``pipeline`` to the end; a failed run is returned (status ``failed``), not raised.

        ``progress`` is told (items finished, items known) as outcomes are recorded.
        """
        bound = pipeline.bind(params or {})
        name = self._executor_name(executor)
        return self._start(pipeline, bound, name, Plan(), None, progress)

    def rerun(
        self, run_id: str, executor: str | None = None, progress: Progress | None = None
    ) -> RunRecord:
        """A new run with exactly the parameters, data snapshots and code of run ``run_id``."""
        original = self.get_run(run_id)
        pipeline = self._pipeline_of(original)
        recorded = {step.name: step.code_digest for step in self._store.list_steps(run_id)}
        changed = [
            node.name for node in pipeline.nodes if recorded.get(node.name) != node.step.code_digest
        ]
        if changed:
            raise ValidationError(
                f"cannot re-run {run_id} exactly: the code of steps {', '.join(changed)} "
                "changed since (or the steps differ); run the pipeline anew instead"
            )
        plan = Plan(pinned=self._pinned(run_id), use_cache=False)
        name = self._executor_name(executor or original.executor)
        return self._start(pipeline, _params(pipeline, original), name, plan, run_id, progress)

    def resume(
        self, run_id: str, executor: str | None = None, progress: Progress | None = None
    ) -> RunRecord:
        """Finish run ``run_id``: only items not recorded as succeeded run again."""
        run = self.get_run(run_id)
        if run.status is RunStatus.SUCCEEDED:
            return run
        now = self._clock()
        if run.status is RunStatus.RUNNING and owner_alive(run.owner, run.heartbeat_at, now):
            raise ConflictError(
                f"run {run_id} is still running (runner {run.owner}, last heartbeat "
                f"{run.heartbeat_at}); resume it once that runner has stopped"
            )
        pipeline = self._pipeline_of(run)
        claimed = self._store.claim_run(run_id, run.owner, self._owner, now)
        reuse = {
            (item.step, item.index): item
            for item in self._store.list_items(run_id)
            if item.status is ItemStatus.SUCCEEDED
        }
        plan = Plan(reuse=reuse, pinned=self._pinned(run_id))
        steps = self._steps_for_resume(run_id, pipeline)
        executor_name = self._executor_name(executor or run.executor)
        return self._execute(
            claimed, pipeline, _params(pipeline, run), executor_name, plan, steps, progress
        )

    def get_run(self, run_id: str) -> RunRecord:
        run = self._store.find_run(run_id)
        if run is None:
            raise NotFoundError(f"run {run_id!r} does not exist")
        return run

    # -- internals -------------------------------------------------------------------------

    def _executor_name(self, name: str | None) -> str:
        chosen = name or self._default
        if chosen not in self._executors:
            raise ValidationError(
                f"unknown executor {chosen!r}; choose one of {sorted(self._executors)}"
            )
        return chosen

    def _pipeline_of(self, run: RunRecord) -> Pipeline:
        if not run.reference or "<locals>" in run.reference:
            raise ValidationError(
                f"run {run.id} ran a pipeline defined inside a function ({run.reference or '?'}); "
                "resume and rerun find pipelines by package.module:attribute or "
                "path/to/file.py:attribute, so define it at module level"
            )
        pipeline = load_pipeline(run.reference)
        if pipeline.name != run.pipeline:
            raise ValidationError(
                f"{run.reference} is now pipeline {pipeline.name!r}, but run {run.id} ran "
                f"{run.pipeline!r}"
            )
        return pipeline

    def _pinned(self, run_id: str) -> dict[tuple[str, int], dict[str, SnapshotRecord]]:
        pinned: dict[tuple[str, int], dict[str, SnapshotRecord]] = {}
        for snapshot in self._store.list_snapshots(run_id):
            pinned.setdefault((snapshot.step, snapshot.index), {})[snapshot.name] = snapshot
        return pinned

    def _steps_for_resume(self, run_id: str, pipeline: Pipeline) -> list[StepRecord]:
        # Every step is planned again: its items are reused only where their cache key
        # (code, parameters, input digests) still matches what was recorded.
        return [
            StepRecord(run_id, node.name, position, node.step.code_digest, node.fan_out)
            for position, node in enumerate(pipeline.nodes)
        ]

    def _start(
        self,
        pipeline: Pipeline,
        params: dict[str, JsonValue],
        executor: str,
        plan: Plan,
        rerun_of: str | None,
        progress: Progress | None,
    ) -> RunRecord:
        now = self._clock()
        run_id = new_run_id(now)
        run = RunRecord(
            id=run_id,
            pipeline=pipeline.name,
            reference=pipeline.reference or "",
            params=params,
            status=RunStatus.RUNNING,
            executor=executor,
            created_at=now,
            created_by=self._actor,
            rerun_of=rerun_of,
            owner=self._owner,
            heartbeat_at=now,
        )
        steps = [
            StepRecord(run_id, node.name, position, node.step.code_digest, node.fan_out)
            for position, node in enumerate(pipeline.nodes)
        ]
        self._store.add_run(run, steps)
        return self._execute(run, pipeline, params, executor, plan, steps, progress)

    def _execute(
        self,
        run: RunRecord,
        pipeline: Pipeline,
        params: dict[str, JsonValue],
        executor: str,
        plan: Plan,
        steps: list[StepRecord],
        progress: Progress | None,
    ) -> RunRecord:
        dispatch = Dispatch(
            run.id,
            self._owner,
            pipeline,
            params,
            self._store,
            self._executors[executor](),
            self._env,
            plan,
            steps,
            flush_interval_s=self._flush_interval_s,
            flush_items=self._flush_items,
            clock=self._clock,
            progress=progress,
        )
        try:
            final = dispatch.execute()
        except BaseException as exc:
            reason = "interrupted" if isinstance(exc, KeyboardInterrupt) else f"{exc!r}"
            finished = self._store.finish_run(
                run.id, self._owner, RunStatus.FAILED, self._clock(), f"runner stopped: {reason}"
            )
            self._notify(finished)
            raise
        failed = [s for s in final.values() if s.status is not StepStatus.SUCCEEDED]
        status = RunStatus.FAILED if failed else RunStatus.SUCCEEDED
        error = "; ".join(
            f"step {s.name} {s.status.value}" + (f": {s.error}" if s.error else "")
            for s in failed
            if s.status is StepStatus.FAILED
        )
        finished = self._store.finish_run(run.id, self._owner, status, self._clock(), error)
        self._notify(finished)
        return finished

    def _notify(self, run: RunRecord) -> None:
        for listener in self._listeners:
            try:
                listener.run_finished(run)
            except Exception:
                logger.exception("run listener %r failed for run %s", listener, run.id)


def _params(pipeline: Pipeline, run: RunRecord) -> dict[str, JsonValue]:
    """The run's parameters bound again: defaults for parameters added since, checked types."""
    return pipeline.bind({k: v for k, v in run.params.items() if k in pipeline.params})
