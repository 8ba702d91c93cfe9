"""Pipeline run records: runs, steps, fan-out items, stored values and data snapshots."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

JsonValue = None | bool | int | float | str | list["JsonValue"] | dict[str, "JsonValue"]
"""A value JSON can hold: pipeline parameters, map items, metrics."""


class RunStatus(StrEnum):
    """Where a run stands; ``failed`` runs can be resumed."""

    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class StepStatus(StrEnum):
    """Where a step stands; a fan-out step is done when every item is."""

    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"
    """Not run because a step it depends on failed."""


class ItemStatus(StrEnum):
    """The state of one item (a single step has one item, a fan-out step one per element)."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"
    RETRYING = "retrying"
    """Failed with a transient error; another attempt is scheduled."""


@dataclass(frozen=True, slots=True)
class ValueRef:
    """A step output stored by type: its sha256 digest, size, format and (when small) its bytes.

    Values of at most ``INLINE_LIMIT`` bytes travel inline in the item record instead of as a
    separate blob: the digest is the same either way, so caching and reruns compare equal.
    """

    digest: str
    size: int
    format: str
    inline: bytes | None = None


@dataclass(frozen=True, slots=True)
class RunRecord:
    """One execution of a pipeline with its parameters, from start to its final status.

    ``reference`` (``module:attribute`` or ``file.py:attribute``) finds the pipeline again to
    resume or re-run it; ``owner`` names the runner process (``host:pid``) while it runs.
    """

    id: str
    pipeline: str
    reference: str
    params: Mapping[str, JsonValue]
    status: RunStatus
    executor: str
    created_at: datetime
    created_by: str
    finished_at: datetime | None = None
    error: str = ""
    rerun_of: str | None = None
    owner: str = ""
    heartbeat_at: datetime | None = None
    attempts: int = 1
    """How many times the run was started: 1, plus one per resume."""


@dataclass(frozen=True, slots=True)
class StepRecord:
    """A step of a run: its code digest, whether it fans out, how many items, its status."""

    run_id: str
    name: str
    position: int
    code_digest: str
    fan_out: bool
    status: StepStatus = StepStatus.PENDING
    items: int | None = None
    """How many items the step has; None until its inputs are known."""
    started_at: datetime | None = None
    finished_at: datetime | None = None
    error: str = ""


@dataclass(frozen=True, slots=True)
class ItemRecord:
    """The outcome of one item of a step: recorded only once it succeeded, failed or is retrying.

    ``key`` is the item's label (the fan-out element, e.g. a tenant name); ``cache_key`` hashes
    the step's code, parameters and input digests; ``registered`` lists the model versions the
    item registered (``tenant/model:version``).
    """

    run_id: str
    step: str
    index: int
    key: str
    status: ItemStatus
    attempts: int
    cache_key: str
    started_at: datetime
    finished_at: datetime
    output: ValueRef | None = None
    metrics: Mapping[str, float] = field(default_factory=dict)
    logs: str = ""
    error: str = ""
    registered: tuple[str, ...] = ()
    reused_from: str | None = None
    """The run whose result this item reuses (a cached step), else None."""


class SnapshotKind(StrEnum):
    FILES = "files"
    FRAME = "frame"


@dataclass(frozen=True, slots=True)
class SnapshotRecord:
    """Input data frozen into the artifact store by a step, so the run can be re-run exactly.

    ``digest`` is the snapshot's id: for files, the digest of a manifest naming each file's
    digest; for a frame, the digest of its Parquet bytes.
    """

    run_id: str
    step: str
    index: int
    name: str
    kind: SnapshotKind
    digest: str
    size: int
    created_at: datetime


@dataclass(frozen=True, slots=True)
class RunQuery:
    """Which runs to list (newest first)."""

    pipeline: str | None = None
    status: RunStatus | None = None
