"""Stores for the storage contracts: in-memory, SQLite in a temp file, throwaway PostgreSQL."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa

from shoal.registry.store import RegistryStore
from shoal.storage.engine import create_engine
from shoal.storage.memory_registry import InMemoryRegistryStore
from shoal.storage.migrate import upgrade
from shoal.storage.sql_registry import SqlRegistryStore
from shoal.storage.tables import metadata

ADMIN_URL = os.environ.get(
    "SHOAL_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


@contextmanager
def throwaway_postgres() -> Iterator[str]:
    """The URL of a new database on the PostgreSQL server, dropped (WITH FORCE) afterwards."""
    admin_url = sa.make_url(ADMIN_URL).set(drivername="postgresql+psycopg")
    admin = sa.create_engine(
        admin_url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3}
    )
    name = f"shoal_test_{secrets.token_hex(6)}"
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except sa.exc.OperationalError as exc:
        admin.dispose()
        pytest.skip(f"PostgreSQL at {admin_url.render_as_string()} is unreachable: {exc.orig}")
    try:
        yield admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture(scope="session")
def postgres_database() -> Callable[[], AbstractContextManager[str]]:
    """Makes throwaway PostgreSQL databases: ``with postgres_database() as url: ...``."""
    return throwaway_postgres


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A database created for this test session, shared by the contract tests."""
    with throwaway_postgres() as url:
        yield url


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
