"""One contract for every RunStore: in-memory, SQLite and PostgreSQL behave the same."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from shoal.errors import ConflictError, NotFoundError
from shoal.pipelines.records import (
    ItemRecord,
    ItemStatus,
    RunQuery,
    RunRecord,
    RunStatus,
    SnapshotKind,
    SnapshotRecord,
    StepRecord,
    StepStatus,
    ValueRef,
)
from shoal.pipelines.store import RunStore
from shoal.registry.records import PageRequest
from shoal.storage.engine import create_engine
from shoal.storage.memory_runs import InMemoryRunStore
from shoal.storage.migrate import upgrade
from shoal.storage.sql_runs import SqlRunStore
from shoal.storage.tables import pipeline_items, pipeline_runs, pipeline_snapshots, pipeline_steps

AT = datetime(2025, 3, 1, 12, 30, 15, 123456, tzinfo=UTC)


@pytest.fixture(scope="module")
def postgres_runs_engine(postgres_url: str) -> Iterator[sa.Engine]:
    engine = create_engine(postgres_url)
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RunStore]:
    if request.param == "memory":
        yield InMemoryRunStore()
    elif request.param == "sqlite":
        engine = create_engine(f"sqlite:///{tmp_path / 'runs.db'}")
        upgrade(engine)
        yield SqlRunStore(engine)
        engine.dispose()
    else:
        engine = request.getfixturevalue("postgres_runs_engine")
        with engine.begin() as conn:
            for table in (pipeline_snapshots, pipeline_items, pipeline_steps, pipeline_runs):
                conn.execute(table.delete())
        yield SqlRunStore(engine)


def run(run_id: str = "r1", at: datetime = AT, pipeline: str = "nightly") -> RunRecord:
    return RunRecord(
        id=run_id,
        pipeline=pipeline,
        reference="flows:nightly",
        params={"day": "2025-03-01", "tenants": ["a", "b"], "limit": 3},
        status=RunStatus.RUNNING,
        executor="local",
        created_at=at,
        created_by="alice",
        owner="host:1",
        heartbeat_at=at,
    )


def steps(run_id: str = "r1") -> list[StepRecord]:
    return [
        StepRecord(run_id, "load", 0, "c" * 64, False),
        StepRecord(run_id, "train", 1, "d" * 64, True),
    ]


def item(index: int, status: ItemStatus = ItemStatus.SUCCEEDED, key: str = "k") -> ItemRecord:
    inline = b'{"x":1}' if index % 2 == 0 else None
    return ItemRecord(
        run_id="r1",
        step="train",
        index=index,
        key=f"{key}{index}",
        status=status,
        attempts=1,
        cache_key=f"{index:064x}",
        started_at=AT,
        finished_at=AT + timedelta(seconds=1),
        output=ValueRef(f"{index + 1:064x}", 7, "json", inline),
        metrics={"f1": 0.5},
        logs="hello\n",
        error="" if status is ItemStatus.SUCCEEDED else "ValueError: x",
        registered=("t/m:1",),
    )


def test_a_run_is_recorded_with_its_steps_and_read_back_exactly(store: RunStore) -> None:
    store.add_run(run(), steps())
    assert store.find_run("r1") == run()
    assert store.list_steps("r1") == steps()
    assert store.find_run("nope") is None
    with pytest.raises(ConflictError):
        store.add_run(run(), steps())


def test_item_outcomes_are_upserted_in_batches_and_listed_in_order(store: RunStore) -> None:
    store.add_run(run(), steps())
    store.record("r1", "host:1", AT, [item(i, ItemStatus.RETRYING) for i in range(3)])
    store.record(
        "r1",
        "host:1",
        AT + timedelta(seconds=5),
        [item(2), item(1), item(0)],
        [replace(steps()[1], status=StepStatus.RUNNING, items=3, started_at=AT)],
        [SnapshotRecord("r1", "train", 1, "calls", SnapshotKind.FILES, "e" * 64, 10, AT)],
    )
    assert store.list_items("r1") == [item(0), item(1), item(2)]
    assert store.list_items("r1", "load") == []
    assert store.list_steps("r1")[1].items == 3
    assert store.list_snapshots("r1")[0].digest == "e" * 64
    found = store.find_run("r1")
    assert found is not None
    assert found.heartbeat_at == AT + timedelta(seconds=5)


def test_a_thousand_items_fit_in_one_batch(store: RunStore) -> None:
    store.add_run(run(), steps())
    store.record("r1", "host:1", AT, [item(i) for i in range(1200)])
    assert len(store.list_items("r1", "train")) == 1200


def test_only_the_owner_records_and_claiming_is_compare_and_set(store: RunStore) -> None:
    store.add_run(run(), steps())
    with pytest.raises(ConflictError):
        store.record("r1", "host:2", AT, [item(0)])
    claimed = store.claim_run("r1", "host:1", "host:2", AT)
    assert (claimed.owner, claimed.attempts, claimed.status) == ("host:2", 2, RunStatus.RUNNING)
    with pytest.raises(ConflictError):
        store.claim_run("r1", "host:1", "host:3", AT)
    done = store.finish_run("r1", "host:2", RunStatus.FAILED, AT, "step train failed")
    assert (done.status, done.owner, done.error, done.finished_at) == (
        RunStatus.FAILED,
        "",
        "step train failed",
        AT,
    )
    with pytest.raises(NotFoundError):
        store.record("nope", "host:2", AT)


def test_cached_items_are_found_by_key_only_when_they_succeeded(store: RunStore) -> None:
    store.add_run(run(), steps())
    store.record("r1", "host:1", AT, [item(0), item(1, ItemStatus.FAILED)])
    found = store.find_cached([f"{0:064x}", f"{1:064x}", "f" * 64])
    assert list(found) == [f"{0:064x}"]
    assert found[f"{0:064x}"] == item(0)


def test_runs_list_newest_first_with_filters_and_cursors(store: RunStore) -> None:
    for i in range(5):
        store.add_run(run(f"r{i}", AT + timedelta(minutes=i), "a" if i % 2 else "b"), [])
    store.finish_run("r3", "host:1", RunStatus.SUCCEEDED, AT)
    first = store.list_runs(RunQuery(), PageRequest(limit=2))
    assert [r.id for r in first.items] == ["r4", "r3"]
    assert first.next_cursor
    second = store.list_runs(RunQuery(), PageRequest(limit=2, cursor=first.next_cursor))
    assert [r.id for r in second.items] == ["r2", "r1"]
    assert [r.id for r in store.list_runs(RunQuery(pipeline="a"), PageRequest()).items] == [
        "r3",
        "r1",
    ]
    only = store.list_runs(RunQuery(status=RunStatus.SUCCEEDED), PageRequest()).items
    assert [r.id for r in only] == ["r3"]
