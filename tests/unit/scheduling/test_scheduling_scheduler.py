from datetime import UTC, datetime

import pytest
from schedule_fakes import Clock, MemoryScheduleStore, RecordingLauncher

from shoal.errors import ValidationError
from shoal.notify import Notification, NotificationDispatcher
from shoal.scheduling import FireStatus, MissedRuns, RunResult, Scheduler, ScheduleService

START = datetime(2024, 1, 1, 1, 59, 30, tzinfo=UTC)


@pytest.fixture
def clock() -> Clock:
    return Clock(START)


@pytest.fixture
def store() -> MemoryScheduleStore:
    return MemoryScheduleStore()


def service(store: MemoryScheduleStore, clock: Clock) -> ScheduleService:
    return ScheduleService(store, "ana", clock=clock)


def test_a_due_fire_starts_one_run_and_is_not_started_again(
    store: MemoryScheduleStore, clock: Clock
) -> None:
    service(store, clock).add("nightly", "jobs:nightly", "0 2 * * *", "UTC", {"day": "x"})
    launcher = RecordingLauncher()
    scheduler = Scheduler(store, launcher, clock=clock)
    assert scheduler.tick() == []
    clock.advance(seconds=45)
    [claimed] = scheduler.tick()
    assert claimed.fire_at == datetime(2024, 1, 1, 2, tzinfo=UTC)
    assert launcher.launched == [("nightly", "20240101T020000Z")]
    clock.advance(seconds=30)
    assert scheduler.tick() == []
    [fire] = store.list_fires("nightly", _page()).items
    assert (fire.status, fire.run_id, fire.claimed_by) == (
        FireStatus.SUCCEEDED,
        "run-1",
        scheduler.name,
    )


def test_two_schedulers_on_one_store_start_each_fire_once(
    store: MemoryScheduleStore, clock: Clock
) -> None:
    service(store, clock).add("nightly", "jobs:nightly", "* * * * *", "UTC")
    launcher = RecordingLauncher()
    first = Scheduler(store, launcher, clock=clock)
    second = Scheduler(store, launcher, clock=clock)
    for _ in range(3):
        clock.advance(minutes=1)
        first.tick()
        second.tick()
    assert len(launcher.launched) == 3
    assert len(set(launcher.launched)) == 3


@pytest.mark.parametrize(
    ("policy", "launched", "status"),
    [(MissedRuns.SKIP, 0, FireStatus.SKIPPED), (MissedRuns.CATCH_UP, 1, FireStatus.SUCCEEDED)],
)
def test_missed_fires_are_skipped_or_caught_up_once(
    store: MemoryScheduleStore,
    clock: Clock,
    policy: MissedRuns,
    launched: int,
    status: FireStatus,
) -> None:
    service(store, clock).add("hourly", "jobs:hourly", "0 * * * *", "UTC", missed=policy)
    launcher = RecordingLauncher()
    scheduler = Scheduler(store, launcher, grace_s=60, clock=clock)
    clock.advance(hours=5, minutes=30)  # the scheduler was down for six fire times
    [claimed] = scheduler.tick()
    assert claimed.fire_at == datetime(2024, 1, 1, 7, tzinfo=UTC)
    assert "6 missed" in claimed.detail
    assert len(launcher.launched) == launched
    scheduler.reap()
    assert store.list_fires("hourly", _page()).items[0].status is status
    clock.advance(minutes=5)
    assert scheduler.tick() == []


def test_a_paused_schedule_starts_nothing_and_resuming_does_not_catch_up(
    store: MemoryScheduleStore, clock: Clock
) -> None:
    schedules = service(store, clock)
    schedules.add("hourly", "jobs:hourly", "0 * * * *", "UTC", missed=MissedRuns.CATCH_UP)
    schedules.pause("hourly")
    launcher = RecordingLauncher()
    scheduler = Scheduler(store, launcher, clock=clock)
    clock.advance(hours=3)
    assert scheduler.tick() == []
    schedules.resume("hourly")
    assert scheduler.tick() == []
    clock.advance(hours=1)
    assert len(scheduler.tick()) == 1
    assert len(launcher.launched) == 1


def test_a_run_that_fails_to_start_is_recorded_and_notified(
    store: MemoryScheduleStore, clock: Clock
) -> None:
    service(store, clock).add("nightly", "jobs:nightly", "0 2 * * *", "UTC")
    sent: list[Notification] = []

    class Recording:
        channel = "recording"

        def send(self, notification: Notification) -> None:
            sent.append(notification)

    failed = RunResult(FireStatus.FAILED, 2, None, "exit code 2: error: no module 'jobs'")
    scheduler = Scheduler(
        store,
        RecordingLauncher(failed),
        clock=clock,
        notifier=NotificationDispatcher([Recording()], retries=0),
    )
    clock.advance(minutes=1)
    scheduler.tick()
    scheduler.reap()
    fire = store.list_fires("nightly", _page()).items[0]
    assert (fire.status, fire.exit_code) == (FireStatus.FAILED, 2)
    assert sent[0].title == "scheduled run of 'nightly' failed to start"
    assert "no module 'jobs'" in sent[0].text


def test_schedules_are_checked_when_they_are_added(
    store: MemoryScheduleStore, clock: Clock
) -> None:
    schedules = service(store, clock)
    with pytest.raises(ValidationError, match="invalid cron expression '99 2 \\* \\* \\*'"):
        schedules.add("nightly", "jobs:nightly", "99 2 * * *")
    with pytest.raises(ValidationError, match="schedule 'Nightly!'"):
        schedules.add("Nightly!", "jobs:nightly", "0 2 * * *")

    def no_such_parameter(ref: str, params: object) -> tuple[str, dict[str, object]]:
        raise ValidationError("pipeline nightly has no parameter 'dya'")

    checked = ScheduleService(store, "ana", no_such_parameter, clock=clock)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="no parameter 'dya'"):
        checked.add("nightly", "jobs:nightly", "0 2 * * *", parameters={"dya": "1"})
    assert store.find_schedule("nightly") is None


def _page():  # type: ignore[no-untyped-def]
    from shoal.registry.records import PageRequest

    return PageRequest(100)
