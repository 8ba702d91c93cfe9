"""Schedule stores for the contract and concurrency tests: memory, SQLite and PostgreSQL."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).parents[2] / "unit" / "scheduling"))

from schedule_fakes import MemoryScheduleStore

from shoal.scheduling.store import ScheduleStore
from shoal.storage.engine import create_engine
from shoal.storage.migrate import upgrade
from shoal.storage.sql_schedules import SqlScheduleStore
from shoal.storage.tables import schedule_fires, schedules


@pytest.fixture(scope="session")
def schedules_postgres_url(postgres_url: str) -> str:
    engine = create_engine(postgres_url)
    upgrade(engine)
    engine.dispose()
    return postgres_url


def _database_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """A migrated, empty database of the backend."""
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'schedules.db'}"
        engine = create_engine(url)
        upgrade(engine)
    else:
        url = request.getfixturevalue("schedules_postgres_url")
        engine = create_engine(url)
        with engine.begin() as conn:
            conn.execute(sa.delete(schedule_fires))
            conn.execute(sa.delete(schedules))
    engine.dispose()
    return url


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def make_store(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[Callable[[], ScheduleStore]]:
    """Opens stores on one backend; SQL stores each get their own engine (like processes)."""
    if request.param == "memory":
        shared = MemoryScheduleStore()
        yield lambda: shared
        return
    url = _database_url(request.param, tmp_path, request)
    engines: list[sa.Engine] = []

    def open_store() -> ScheduleStore:
        engine = create_engine(url)
        engines.append(engine)
        return SqlScheduleStore(engine)

    yield open_store
    for engine in engines:
        engine.dispose()
