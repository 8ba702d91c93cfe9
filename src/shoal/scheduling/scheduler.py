"""``Scheduler``: the loop that turns due fire times into pipeline runs, at most once each.

Every tick, for each active schedule, the scheduler looks for the latest fire time at or
before now that nobody has claimed yet (after the schedule's last claimed fire and after it was
created or resumed). A fire within ``grace_s`` of its time is on time and runs. An older one
was missed (no scheduler was running then): under ``skip`` it is claimed as skipped and
nothing runs; under ``catch-up`` it runs once, standing for every fire missed since. Claims
are inserts under a unique (schedule, fire time) key, so any number of schedulers may run
side by side and each fire starts one run. Runs are separate processes (``RunLauncher``).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from shoal.errors import ShoalError, ValidationError
from shoal.notify.notifier import NotificationDispatcher
from shoal.notify.records import Level, Notification
from shoal.registry.records import PageRequest
from shoal.scheduling.cron import Cron
from shoal.scheduling.launcher import LaunchedRun, RunLauncher, RunResult
from shoal.scheduling.records import FireStatus, MissedRuns, Schedule
from shoal.scheduling.store import ScheduleStore

logger = logging.getLogger(__name__)


def scheduler_id() -> str:
    """``host:pid:random``: names the scheduler in the claims it makes."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


@dataclass(frozen=True, slots=True)
class Claimed:
    """A fire this scheduler claimed in a tick, and whether it started a run for it."""

    schedule: str
    fire_at: datetime
    status: FireStatus
    detail: str


class Scheduler:
    """Claims due fires of ``store``'s schedules and starts their runs with ``launcher``.

    ``notifier`` (optional) hears of runs that failed without a run of their own to report it
    (e.g. the pipeline could not be loaded); the run's own listeners report the others.
    """

    def __init__(
        self,
        store: ScheduleStore,
        launcher: RunLauncher,
        name: str | None = None,
        grace_s: float = 300.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        notifier: NotificationDispatcher | None = None,
    ) -> None:
        if grace_s < 0:
            raise ValidationError(f"the grace period must be 0 s or more, got {grace_s}")
        self.name = name or scheduler_id()
        self._store = store
        self._launcher = launcher
        self._grace = timedelta(seconds=grace_s)
        self._clock = clock
        self._notifier = notifier
        self._running: dict[tuple[str, datetime], LaunchedRun] = {}

    @property
    def running(self) -> int:
        """Runs this scheduler started that have not ended yet."""
        return len(self._running)

    def tick(self) -> list[Claimed]:
        """Claim every due fire and start its run; record runs that ended since the last tick."""
        self.reap()
        now = self._clock()
        claimed: list[Claimed] = []
        for schedule in self._active():
            try:
                found = self._consider(schedule, now)
            except ShoalError:
                logger.exception("schedule %r: could not claim or start its run", schedule.name)
                continue
            if found is not None:
                claimed.append(found)
        return claimed

    def reap(self) -> int:
        """Record the runs that have ended; returns how many are still running."""
        for key, run in list(self._running.items()):
            result = run.poll()
            if result is not None:
                del self._running[key]
                self._finish(key[0], key[1], result)
        return len(self._running)

    def drain(self) -> None:
        """Wait for every run this scheduler started, and record how each ended."""
        for key, run in list(self._running.items()):
            result = run.wait()
            del self._running[key]
            self._finish(key[0], key[1], result)

    def run_forever(self, stop: threading.Event, tick_s: float = 15.0) -> None:
        """Tick every ``tick_s`` until ``stop`` is set, then let the running runs finish."""
        logger.info("scheduler %s started (tick %.1f s)", self.name, tick_s)
        while not stop.is_set():
            try:
                self.tick()
            except ShoalError:
                # A database hiccup must not end the scheduler: the next tick tries again.
                logger.exception("scheduler tick failed")
            stop.wait(tick_s)
        logger.info("scheduler %s stopping; waiting for %d run(s)", self.name, self.running)
        self.drain()

    def _active(self) -> list[Schedule]:
        schedules: list[Schedule] = []
        cursor: str | None = None
        while True:
            page = self._store.list_schedules(PageRequest(500, cursor))
            schedules += [s for s in page.items if not s.paused]
            if page.next_cursor is None:
                return schedules
            cursor = page.next_cursor

    def _consider(self, schedule: Schedule, now: datetime) -> Claimed | None:
        cron = Cron.parse(schedule.cron, schedule.timezone)
        latest = cron.latest(now)
        last = self._store.last_fire_at(schedule.name)
        since = max(last, schedule.active_since) if last else schedule.active_since
        if latest <= since:
            return None
        missed = cron.count_between(since, now)
        if now - latest <= self._grace:
            status, detail = FireStatus.RUNNING, "on time"
        elif schedule.missed is MissedRuns.CATCH_UP:
            status, detail = FireStatus.RUNNING, f"catching up once for {missed} missed fire(s)"
        else:
            status, detail = FireStatus.SKIPPED, f"skipped {missed} missed fire(s)"
        if missed > 1 and status is FireStatus.RUNNING and detail == "on time":
            detail = f"on time; {missed - 1} earlier missed fire(s) skipped"
        if not self._store.claim(schedule.name, latest, status, self.name, now):
            return None  # another scheduler claimed it first
        if status is FireStatus.SKIPPED:
            self._store.finish_fire(schedule.name, latest, status, now, None, None, detail)
            logger.info("schedule %r: %s", schedule.name, detail)
            return Claimed(schedule.name, latest, status, detail)
        logger.info("schedule %r: starting its run for %s (%s)", schedule.name, latest, detail)
        try:
            run = self._launcher.launch(schedule, latest.strftime("%Y%m%dT%H%M%SZ"))
        except (OSError, ShoalError) as exc:
            result = RunResult(FireStatus.FAILED, None, None, f"could not start the run: {exc}")
            self._finish(schedule.name, latest, result)
            return Claimed(schedule.name, latest, FireStatus.FAILED, result.detail)
        self._running[(schedule.name, latest)] = run
        return Claimed(schedule.name, latest, status, detail)

    def _finish(self, name: str, fire_at: datetime, result: RunResult) -> None:
        logger.info("schedule %r fire %s: %s (%s)", name, fire_at, result.status, result.detail)
        try:
            self._store.finish_fire(
                name,
                fire_at,
                result.status,
                self._clock(),
                result.run_id,
                result.exit_code,
                result.detail,
            )
        except ShoalError:
            logger.exception("could not record the end of schedule %r's run", name)
        if result.status is FireStatus.FAILED and result.run_id is None and self._notifier:
            self._notifier.send(
                Notification(
                    title=f"scheduled run of {name!r} failed to start",
                    text=result.detail,
                    level=Level.FAILURE,
                    facts={"schedule": name, "fire time": fire_at.isoformat()},
                )
            )
