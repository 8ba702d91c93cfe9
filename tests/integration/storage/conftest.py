"""Stores for the storage contracts: in-memory, SQLite in a temp file, throwaway PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from shoal.registry.store import RegistryStore
from shoal.storage.engine import create_engine
from shoal.storage.memory_registry import InMemoryRegistryStore
from shoal.storage.migrate import upgrade
from shoal.storage.sql_registry import SqlRegistryStore
from shoal.storage.tables import metadata


@pytest.fixture(scope="session")
def postgres_engine(postgres_url: str) -> Iterator[sa.Engine]:
    engine = create_engine(postgres_url)
    upgrade(engine)
    yield engine
    engine.dispose()


def _empty_postgres(engine: sa.Engine) -> None:
    names = ", ".join(table.name for table in metadata.sorted_tables)
    with engine.begin() as conn:
        conn.exec_driver_sql(f"TRUNCATE {names} RESTART IDENTITY CASCADE")


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def registry_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RegistryStore]:
    """Each RegistryStore implementation, empty."""
    if request.param == "memory":
        yield InMemoryRegistryStore()
    elif request.param == "sqlite":
        engine = create_engine(f"sqlite:///{tmp_path / 'registry.db'}")
        upgrade(engine)
        yield SqlRegistryStore(engine)
        engine.dispose()
    else:
        engine = request.getfixturevalue("postgres_engine")
        _empty_postgres(engine)
        yield SqlRegistryStore(engine)
