"""Two schedulers at once, each with its own connection pool, never start a fire twice."""

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from schedule_fakes import Clock, RecordingLauncher

from shoal.registry.records import PageRequest
from shoal.scheduling import Scheduler, ScheduleService, ScheduleStore
from shoal.storage.sql_schedules import SqlScheduleStore

START = datetime(2024, 1, 1, 0, 0, 30, tzinfo=UTC)
FIRES = 30


def test_two_schedulers_running_concurrently_start_each_fire_exactly_once(
    make_store: Callable[[], ScheduleStore],
) -> None:
    setup = make_store()
    schedules = ScheduleService(setup, "ana", clock=lambda: START)
    for name in ("every-minute", "also-every-minute"):
        schedules.add(name, f"jobs:{name}", "* * * * *", "UTC")
    launcher = RecordingLauncher()
    barrier = threading.Barrier(2)

    def scheduler_loop() -> None:
        clock = Clock(START)
        scheduler = Scheduler(make_store(), launcher, clock=clock)
        for _ in range(FIRES):
            clock.advance(minutes=1)
            barrier.wait()  # both tick for the same minute at the same moment
            scheduler.tick()
        scheduler.drain()

    threads = [threading.Thread(target=scheduler_loop) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(launcher.launched) == 2 * FIRES
    assert len(set(launcher.launched)) == 2 * FIRES
    fires = setup.list_fires(None, PageRequest(1000)).items
    assert len(fires) == 2 * FIRES
    if isinstance(setup, SqlScheduleStore):
        # Real races: with both ticking at once, each database-backed scheduler wins some.
        assert len({f.claimed_by for f in fires}) == 2
    expected = {START.replace(second=0) + timedelta(minutes=m) for m in range(1, FIRES + 1)}
    assert {f.fire_at for f in fires} == expected
