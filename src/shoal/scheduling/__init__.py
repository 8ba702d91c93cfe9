"""Schedules: pipelines on cron in explicit time zones; schedulers never start a fire twice."""

from shoal.scheduling.cron import Cron, check_timezone
from shoal.scheduling.launcher import RunLauncher, RunResult, SubprocessLauncher
from shoal.scheduling.records import (
    Fire,
    FireStatus,
    MissedRuns,
    Schedule,
    ScheduleDraft,
    ScheduleState,
)
from shoal.scheduling.scheduler import Claimed, Scheduler
from shoal.scheduling.service import ScheduleService
from shoal.scheduling.store import ScheduleStore

__all__ = [
    "Claimed",
    "Cron",
    "Fire",
    "FireStatus",
    "MissedRuns",
    "RunLauncher",
    "RunResult",
    "Schedule",
    "ScheduleDraft",
    "ScheduleService",
    "ScheduleState",
    "ScheduleStore",
    "Scheduler",
    "SubprocessLauncher",
    "check_timezone",
]
