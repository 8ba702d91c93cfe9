"""The role schedules need from storage; ``shoal.storage`` implements it in SQL.

``claim`` is the heart of "two schedulers never start the same run twice": it inserts the
(schedule, fire time) pair under a unique constraint, so of any number of schedulers trying
the same fire time exactly one gets ``True``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from shoal.errors import ConflictError, NotFoundError
from shoal.registry.records import Page, PageRequest
from shoal.scheduling.records import Fire, FireStatus, Schedule, ScheduleDraft, ScheduleState


class ScheduleStore(Protocol):
    """Schedules and their fires. Each method is one atomic transaction."""

    def add_schedule(self, draft: ScheduleDraft, actor: str, at: datetime) -> Schedule:
        """Record an active schedule; ``ConflictError`` if the name is taken."""
        ...

    def find_schedule(self, name: str) -> Schedule | None: ...

    def list_schedules(self, page: PageRequest) -> Page[Schedule]:
        """Schedules ordered by name."""
        ...

    def set_state(self, name: str, state: ScheduleState, actor: str, at: datetime) -> Schedule:
        """Pause or resume; resuming moves ``active_since`` to ``at``. ``NotFoundError`` if
        unknown; setting the state it has already is a no-op."""
        ...

    def remove_schedule(self, name: str) -> Schedule:
        """Delete a schedule and its fires; ``NotFoundError`` if unknown."""
        ...

    def last_fire_at(self, name: str) -> datetime | None:
        """The latest fire time claimed (by anyone) for the schedule."""
        ...

    def claim(
        self, name: str, fire_at: datetime, status: FireStatus, scheduler: str, at: datetime
    ) -> bool:
        """Insert the fire; ``False`` if someone claimed that fire time already."""
        ...

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
        """Record how the run of a claimed fire ended."""
        ...

    def list_fires(self, name: str | None, page: PageRequest) -> Page[Fire]:
        """Fires newest first (by fire time), of one schedule or of all."""
        ...


def schedule_missing(name: str) -> NotFoundError:
    return NotFoundError(f"schedule {name!r} does not exist")


def schedule_exists(name: str) -> ConflictError:
    return ConflictError(f"schedule {name!r} already exists")


def fire_missing(name: str, fire_at: datetime) -> NotFoundError:
    return NotFoundError(f"schedule {name!r} has no fire at {fire_at.isoformat()}")
