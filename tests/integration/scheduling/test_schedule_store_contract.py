"""The schedule store contract, over the in-memory fake, SQLite and PostgreSQL."""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from shoal.errors import ConflictError, NotFoundError
from shoal.registry.records import PageRequest
from shoal.scheduling import FireStatus, MissedRuns, ScheduleDraft, ScheduleState, ScheduleStore

AT = datetime(2024, 3, 1, 12, 0, 0, tzinfo=UTC)
DRAFT = ScheduleDraft(
    "nightly", "pipes.py:nightly", "0 2 * * *", "Europe/Paris", {"day": "x", "n": 2}
)


def test_a_schedule_is_added_found_listed_and_removed_with_its_fires(
    make_store: Callable[[], ScheduleStore],
) -> None:
    store = make_store()
    added = store.add_schedule(DRAFT, "ana", AT)
    assert (added.name, added.timezone, added.parameters, added.missed) == (
        "nightly",
        "Europe/Paris",
        {"day": "x", "n": 2},
        MissedRuns.SKIP,
    )
    assert added.active_since == AT
    assert store.find_schedule("nightly") == added
    store.add_schedule(ScheduleDraft("hourly", "p:h", "0 * * * *", "UTC", {}), "ana", AT)
    assert [s.name for s in store.list_schedules(PageRequest(1)).items] == ["hourly"]
    assert store.claim("nightly", AT, FireStatus.RUNNING, "s1", AT)
    assert store.remove_schedule("nightly").name == "nightly"
    assert store.find_schedule("nightly") is None
    with pytest.raises(NotFoundError, match="schedule 'nightly' does not exist"):
        store.remove_schedule("nightly")
    with pytest.raises(ConflictError, match="schedule 'hourly' already exists"):
        store.add_schedule(ScheduleDraft("hourly", "p:h", "@daily", "UTC", {}), "bo", AT)


def test_pausing_and_resuming_moves_active_since_to_the_resume(
    make_store: Callable[[], ScheduleStore],
) -> None:
    store = make_store()
    store.add_schedule(DRAFT, "ana", AT)
    paused = store.set_state("nightly", ScheduleState.PAUSED, "bo", AT + timedelta(hours=1))
    assert paused.paused
    assert paused.active_since == AT
    resumed = store.set_state("nightly", ScheduleState.ACTIVE, "bo", AT + timedelta(hours=2))
    assert not resumed.paused
    assert resumed.active_since == AT + timedelta(hours=2)
    assert resumed.updated_by == "bo"


def test_a_fire_time_is_claimed_once_and_its_end_recorded(
    make_store: Callable[[], ScheduleStore],
) -> None:
    first, second = make_store(), make_store()
    first.add_schedule(DRAFT, "ana", AT)
    fire_at = AT + timedelta(hours=13)
    assert first.claim("nightly", fire_at, FireStatus.RUNNING, "s1", fire_at)
    assert not second.claim("nightly", fire_at, FireStatus.RUNNING, "s2", fire_at)
    assert second.last_fire_at("nightly") == fire_at
    done = second.finish_fire(
        "nightly", fire_at, FireStatus.SUCCEEDED, fire_at + timedelta(minutes=3), "run-7", 0, "ok"
    )
    assert (done.status, done.run_id, done.exit_code, done.claimed_by) == (
        FireStatus.SUCCEEDED,
        "run-7",
        0,
        "s1",
    )
    assert first.list_fires("nightly", PageRequest(10)).items == (done,)
    assert first.list_fires(None, PageRequest(10)).items == (done,)
