"""Tiny real fakes for the scheduler: an in-memory ScheduleStore, a launcher and a clock."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from shoal.errors import ValidationError
from shoal.registry.records import Page, PageRequest
from shoal.scheduling.launcher import RunResult
from shoal.scheduling.records import (
    Fire,
    FireStatus,
    Schedule,
    ScheduleDraft,
    ScheduleState,
)
from shoal.scheduling.store import fire_missing, schedule_exists, schedule_missing


class MemoryScheduleStore:
    """A ScheduleStore in dicts; one lock stands for the database's transactions."""

    def __init__(self) -> None:
        self._schedules: dict[str, Schedule] = {}
        self._fires: dict[tuple[str, datetime], Fire] = {}
        self._lock = threading.Lock()

    def add_schedule(self, draft: ScheduleDraft, actor: str, at: datetime) -> Schedule:
        with self._lock:
            if draft.name in self._schedules:
                raise schedule_exists(draft.name)
            at = at.astimezone(UTC)
            schedule = Schedule(
                draft.name,
                draft.pipeline,
                draft.cron,
                draft.timezone,
                dict(draft.parameters),
                draft.missed,
                ScheduleState.ACTIVE,
                at,
                at,
                actor,
                at,
                actor,
            )
            self._schedules[draft.name] = schedule
            return schedule

    def find_schedule(self, name: str) -> Schedule | None:
        return self._schedules.get(name)

    def list_schedules(self, page: PageRequest) -> Page[Schedule]:
        names = sorted(self._schedules)
        if page.cursor is not None:
            raise ValidationError("the fake lists one page only")
        return Page(tuple(self._schedules[n] for n in names[: page.limit]))

    def set_state(self, name: str, state: ScheduleState, actor: str, at: datetime) -> Schedule:
        with self._lock:
            schedule = self._get(name)
            if schedule.state is not state:
                since = at if state is ScheduleState.ACTIVE else schedule.active_since
                schedule = replace(
                    schedule, state=state, active_since=since, updated_at=at, updated_by=actor
                )
                self._schedules[name] = schedule
            return schedule

    def remove_schedule(self, name: str) -> Schedule:
        with self._lock:
            schedule = self._get(name)
            del self._schedules[name]
            for key in [k for k in self._fires if k[0] == name]:
                del self._fires[key]
            return schedule

    def last_fire_at(self, name: str) -> datetime | None:
        times = [at for (n, at) in self._fires if n == name]
        return max(times) if times else None

    def claim(
        self, name: str, fire_at: datetime, status: FireStatus, scheduler: str, at: datetime
    ) -> bool:
        with self._lock:
            self._get(name)
            key = (name, fire_at.astimezone(UTC))
            if key in self._fires:
                return False
            self._fires[key] = Fire(name, key[1], status, scheduler, at)
            return True

    def finish_fire(
        self,
        name: str,
        fire_at: datetime,
        status: FireStatus,
        at: datetime,
        run_id: str | None,
        exit_code: int | None,
        detail: str | None,
    ) -> Fire:
        with self._lock:
            key = (name, fire_at.astimezone(UTC))
            if key not in self._fires:
                raise fire_missing(name, fire_at)
            fire = replace(
                self._fires[key],
                status=status,
                finished_at=at,
                run_id=run_id,
                exit_code=exit_code,
                detail=detail,
            )
            self._fires[key] = fire
            return fire

    def list_fires(self, name: str | None, page: PageRequest) -> Page[Fire]:
        if name is not None:
            self._get(name)
        fires = sorted(
            (f for f in self._fires.values() if name is None or f.schedule == name),
            key=lambda f: (f.fire_at, f.schedule),
            reverse=True,
        )
        return Page(tuple(fires[: page.limit]))

    def _get(self, name: str) -> Schedule:
        if name not in self._schedules:
            raise schedule_missing(name)
        return self._schedules[name]


class FinishedRun:
    def __init__(self, result: RunResult) -> None:
        self.result = result

    def poll(self) -> RunResult | None:
        return self.result

    def wait(self) -> RunResult:
        return self.result


class RecordingLauncher:
    """Starts nothing: records each launch and reports it finished with ``result``."""

    def __init__(self, result: RunResult | None = None) -> None:
        self.launched: list[tuple[str, str]] = []
        self.result = result or RunResult(FireStatus.SUCCEEDED, 0, "run-1", "exit code 0")
        self._lock = threading.Lock()

    def launch(self, schedule: Schedule, fire_label: str) -> FinishedRun:
        with self._lock:
            self.launched.append((schedule.name, fire_label))
        return FinishedRun(self.result)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)
