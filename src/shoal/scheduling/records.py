"""Schedule records: which pipeline runs when, and each fire time a scheduler claimed."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from shoal.pipelines.records import JsonValue

ParameterValue = JsonValue
"""A pipeline parameter as kept with the schedule (JSON)."""


class MissedRuns(StrEnum):
    """What to do with fire times that passed while no scheduler was running.

    ``skip`` waits for the next fire time; ``catch-up`` runs once now for all of them.
    """

    SKIP = "skip"
    CATCH_UP = "catch-up"


class ScheduleState(StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"


class FireStatus(StrEnum):
    RUNNING = "running"
    """Claimed by a scheduler, which started the run."""
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"
    """A missed fire time passed over under the ``skip`` policy (recorded so no one runs it)."""

    @property
    def finished(self) -> bool:
        return self is not FireStatus.RUNNING


@dataclass(frozen=True, slots=True)
class ScheduleDraft:
    """A schedule as asked for, before the store records it."""

    name: str
    pipeline: str
    cron: str
    timezone: str
    parameters: Mapping[str, ParameterValue]
    missed: MissedRuns = MissedRuns.SKIP


@dataclass(frozen=True, slots=True)
class Schedule:
    """A pipeline reference, a cron expression in an explicit time zone, and run parameters."""

    name: str
    pipeline: str
    cron: str
    timezone: str
    parameters: Mapping[str, ParameterValue]
    missed: MissedRuns
    state: ScheduleState
    active_since: datetime
    """Creation or the last resume: earlier fire times are never run or caught up."""
    created_at: datetime
    created_by: str
    updated_at: datetime
    updated_by: str

    @property
    def paused(self) -> bool:
        return self.state is ScheduleState.PAUSED


@dataclass(frozen=True, slots=True)
class Fire:
    """One fire time of a schedule, claimed by one scheduler, and how its run went."""

    schedule: str
    fire_at: datetime
    status: FireStatus
    claimed_by: str
    claimed_at: datetime
    finished_at: datetime | None = None
    run_id: str | None = None
    exit_code: int | None = None
    detail: str | None = None
