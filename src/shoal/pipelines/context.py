"""What a step can do while it runs: log metrics, snapshot its input data, register models.

These functions act on the item running in the current thread; called outside a run,
``log_metric`` is a no-op (so steps stay testable as plain functions) and the others raise.
"""

from __future__ import annotations

import contextvars
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from shoal.errors import NotFoundError, ValidationError
from shoal.pipelines import snapshots
from shoal.pipelines.environment import StepEnvironment
from shoal.pipelines.records import SnapshotKind, SnapshotRecord
from shoal.registry.packager import RegistrationRequest
from shoal.registry.records import (
    ApprovalStatus,
    JsonScalar,
    Lineage,
    ModelVersion,
    PageRequest,
)
from shoal.registry.refs import ModelRef

if TYPE_CHECKING:
    import pandas as pd

_METRIC = re.compile(r"[A-Za-z0-9_.:/-]{1,128}")


@dataclass(slots=True)
class StepContext:
    """The run, step and item the current thread is executing, and what the item produced."""

    run_id: str
    step: str
    index: int
    key: str
    attempt: int
    env: StepEnvironment
    pinned: Mapping[str, SnapshotRecord] = field(default_factory=dict)
    """Snapshots of the run being re-run, by name: reused instead of reading the source."""
    lineage: tuple[str, ...] = ()
    """Snapshot ids behind this item's inputs (taken upstream)."""
    metrics: dict[str, float] = field(default_factory=dict)
    snapshots: list[SnapshotRecord] = field(default_factory=list)
    registered: list[str] = field(default_factory=list)

    def snapshot_record(self, name: str, kind: SnapshotKind, digest: str, size: int) -> None:
        self.snapshots.append(
            SnapshotRecord(
                self.run_id, self.step, self.index, name, kind, digest, size, datetime.now(UTC)
            )
        )


_CURRENT: contextvars.ContextVar[StepContext | None] = contextvars.ContextVar(
    "shoal_step_context", default=None
)


def activate(context: StepContext | None) -> contextvars.Token[StepContext | None]:
    return _CURRENT.set(context)


def deactivate(token: contextvars.Token[StepContext | None]) -> None:
    _CURRENT.reset(token)


def current() -> StepContext:
    """The running item's context; ``ValidationError`` outside a pipeline run."""
    context = _CURRENT.get()
    if context is None:
        raise ValidationError("this only works inside a step of a running pipeline")
    return context


def log_metric(name: str, value: float) -> None:
    """Record a metric of the running item (the last value of a name wins)."""
    if not isinstance(name, str) or not _METRIC.fullmatch(name):
        raise ValidationError(f"metric name {name!r} must be 1-128 of A-Z a-z 0-9 _ . : / -")
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValidationError(f"metric {name!r} must be a finite number, got {value!r}")
    context = _CURRENT.get()
    if context is not None:
        context.metrics[name] = float(value)


def snapshot_files(name: str, paths: str | Path | Sequence[str | Path]) -> Path:
    """Freeze files (or folders) into the artifact store; returns the folder of frozen copies.

    Read the returned copies, not the originals: a re-run gets the same bytes from the store
    even if the originals changed or are gone.
    """
    context = current()
    snapshots.check_name(name)
    pinned = context.pinned.get(name)
    if pinned is not None:
        return snapshots.materialise_files(pinned.digest, context.env)
    listed = [paths] if isinstance(paths, str | Path) else list(paths)
    digest, size = snapshots.freeze_files([Path(p) for p in listed], context.env)
    context.snapshot_record(name, SnapshotKind.FILES, digest, size)
    return snapshots.materialise_files(digest, context.env)


def snapshot_frame(name: str, produce: Callable[[], pd.DataFrame]) -> pd.DataFrame:
    """Freeze a query result: ``produce()`` runs on a normal run, never on a re-run.

    Returns the frame as stored (read back from Parquet), so a run and its re-runs see the same
    values and types.
    """
    context = current()
    snapshots.check_name(name)
    pinned = context.pinned.get(name)
    if pinned is None:
        digest, size = snapshots.freeze_frame(produce(), context.env)
        context.snapshot_record(name, SnapshotKind.FRAME, digest, size)
    else:
        digest = pinned.digest
    return snapshots.read_frame(digest, context.env)


def register_model(
    ref: str | ModelRef,
    model: object,
    *,
    sample_input: object | None = None,
    metrics: Mapping[str, float] | None = None,
    params: Mapping[str, JsonScalar] | None = None,
    tags: Mapping[str, str] | None = None,
    description: str = "",
    aliases: Sequence[str] = (),
    approval: ApprovalStatus = ApprovalStatus.PENDING,
    snapshot: str | None = None,
) -> ModelVersion:
    """Register ``model`` with lineage: this run and the data snapshot it was trained on.

    ``snapshot`` defaults to the last snapshot this item took. Registering the same model again
    in the same run (a resumed item) returns the version registered before instead of adding one.
    """
    context = current()
    registry = context.env.registry
    if registry is None:
        raise ValidationError("this pipeline runs without a registry; cannot register models")
    model_ref = ref if isinstance(ref, ModelRef) else ModelRef.parse(ref)
    latest = _latest(context, model_ref)
    if latest is not None and latest.lineage.run_id == context.run_id:
        if latest.ref not in context.registered:
            context.registered.append(latest.ref)
        return latest
    snapshot_id = snapshot or _data_snapshot(context)
    request = RegistrationRequest(
        ref=model_ref,
        model=model,
        sample_input=sample_input,
        metrics=dict(metrics or {}),
        params=dict(params or {}),
        tags={**(tags or {}), "pipeline.step": context.step},
        description=description,
        lineage=Lineage(run_id=context.run_id, snapshot_id=snapshot_id),
        aliases=tuple(aliases),
        approval=approval,
    )
    version = registry.register(request, context.env.actor)
    context.registered.append(version.ref)
    return version


def _data_snapshot(context: StepContext) -> str | None:
    """The snapshot behind this item's data: its own, else those behind its inputs.

    Several snapshots are recorded as one: a stored list of their ids, whose digest names it.
    """
    own = [s.digest for s in context.snapshots] or [s.digest for s in context.pinned.values()]
    found = sorted(set(own or context.lineage))
    if len(found) <= 1:
        return found[0] if found else None
    return snapshots.combine(found, context.env)


def _latest(context: StepContext, ref: ModelRef) -> ModelVersion | None:
    registry = context.env.registry
    assert registry is not None
    try:
        page = registry.list_versions(ModelRef(ref.tenant, ref.model), PageRequest(limit=1))
    except NotFoundError:
        return None
    return page.items[0] if page.items else None
