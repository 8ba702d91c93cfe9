"""``ScheduleService``: add, list, pause, resume and remove schedules, checked before they are kept.

A schedule is refused at ``add`` when its cron expression or time zone is invalid, its name
breaks the naming rules, or (when a loader is given) its pipeline cannot be found or does not
take the parameters given; the parameters kept are the pipeline's, typed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime

from shoal.registry.names import check_name
from shoal.registry.records import Page, PageRequest
from shoal.scheduling.cron import Cron
from shoal.scheduling.records import (
    Fire,
    MissedRuns,
    ParameterValue,
    Schedule,
    ScheduleDraft,
    ScheduleState,
)
from shoal.scheduling.store import ScheduleStore, schedule_missing

PipelineCheck = Callable[[str, Mapping[str, str]], tuple[str, Mapping[str, ParameterValue]]]
"""Loads a pipeline reference and binds parameters to it: (normalised reference, typed values)."""


def load_and_bind(
    reference: str, parameters: Mapping[str, str]
) -> tuple[str, dict[str, ParameterValue]]:
    """The pipeline's normalised reference (a file's absolute path, so the scheduler finds it
    from any folder) and ``parameters`` checked and typed against it."""
    from shoal.pipelines.loader import load_pipeline  # imports the user's pipeline module

    pipeline = load_pipeline(reference)
    return pipeline.reference or reference, pipeline.bind(parameters)


class ScheduleService:
    """Schedules for ``actor``; ``check_pipeline`` validates references and parameters."""

    def __init__(
        self,
        store: ScheduleStore,
        actor: str,
        check_pipeline: PipelineCheck | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self._actor = actor
        self._check_pipeline = check_pipeline
        self._clock = clock

    def add(
        self,
        name: str,
        pipeline: str,
        cron: str,
        timezone: str = "UTC",
        parameters: Mapping[str, str] | None = None,
        missed: MissedRuns = MissedRuns.SKIP,
    ) -> Schedule:
        check_name(name, "schedule")
        parsed = Cron.parse(cron, timezone)
        values: Mapping[str, ParameterValue] = dict(parameters or {})
        if self._check_pipeline is not None:
            pipeline, values = self._check_pipeline(pipeline, dict(parameters or {}))
        draft = ScheduleDraft(
            name, pipeline, parsed.expression, parsed.timezone, values, MissedRuns(missed)
        )
        return self._store.add_schedule(draft, self._actor, self._clock())

    def get(self, name: str) -> Schedule:
        found = self._store.find_schedule(name)
        if found is None:
            raise schedule_missing(name)
        return found

    def list(self, limit: int = 100, cursor: str | None = None) -> Page[Schedule]:
        return self._store.list_schedules(PageRequest(limit, cursor))

    def pause(self, name: str) -> Schedule:
        return self._store.set_state(name, ScheduleState.PAUSED, self._actor, self._clock())

    def resume(self, name: str) -> Schedule:
        """Active again from now: fire times while it was paused are not caught up."""
        return self._store.set_state(name, ScheduleState.ACTIVE, self._actor, self._clock())

    def remove(self, name: str) -> Schedule:
        return self._store.remove_schedule(name)

    def fires(
        self, name: str | None = None, limit: int = 100, cursor: str | None = None
    ) -> Page[Fire]:
        return self._store.list_fires(name, PageRequest(limit, cursor))

    def next_fire(self, schedule: Schedule) -> datetime | None:
        """When it fires next (None while paused)."""
        if schedule.paused:
            return None
        return Cron.parse(schedule.cron, schedule.timezone).next_after(self._clock())
