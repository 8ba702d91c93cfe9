"""Notebook job records: what ran with which parameters, how it ended, and what it cost."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

ParameterValue = str | int | float | bool | None
"""What a notebook parameter may be: JSON scalars, injected as Python literals."""


class JobStatus(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    TIMED_OUT = "timed_out"

    @property
    def finished(self) -> bool:
        return self is not JobStatus.RUNNING


@dataclass(frozen=True, slots=True)
class Usage:
    """What a job cost: wall time, CPU time of the kernel's process tree, and its peak memory."""

    wall_s: float
    cpu_s: float | None
    peak_memory_bytes: int | None


@dataclass(frozen=True, slots=True)
class CellError:
    """The cell that raised: its number in the notebook (0-based), source and traceback."""

    cell: int | None
    source: str
    error: str
    traceback: str


@dataclass(frozen=True, slots=True)
class Job:
    """One execution of a notebook.

    ``output_digest`` is the executed notebook and ``html_digest`` its HTML rendering, both
    immutable blobs in the artifact store (kept for failed and timed-out jobs too, as far as
    they got).
    """

    id: str
    notebook: str
    notebook_digest: str
    parameters: Mapping[str, ParameterValue]
    status: JobStatus
    actor: str
    created_at: datetime
    batch: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    max_runtime_s: float | None = None
    usage: Usage | None = None
    output_digest: str | None = None
    html_digest: str | None = None
    error: str | None = None
    failed_cell: int | None = None
    traceback: str | None = None


@dataclass(frozen=True, slots=True)
class JobOutcome:
    """How a finished job ended, as the runner saw it; the store records it on the job."""

    status: JobStatus
    finished_at: datetime
    usage: Usage
    output_digest: str | None = None
    html_digest: str | None = None
    error: str | None = None
    failed_cell: int | None = None
    traceback: str | None = None


@dataclass(frozen=True, slots=True)
class JobQuery:
    """Filters of the job listing."""

    status: JobStatus | None = None
    batch: str | None = None
    notebook: str | None = None
