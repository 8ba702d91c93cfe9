"""The packaged migrations build tables.py's schema, once, on SQLite and PostgreSQL."""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from shoal.storage.engine import create_engine
from shoal.storage.migrate import current_revisions, head_revisions, upgrade
from shoal.storage.tables import VERSION_TABLE, metadata

TABLES = {"tenants", "models", "model_versions", "aliases", "audit_events", VERSION_TABLE}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def fresh_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    """An engine on an empty database of each backend."""
    if request.param == "sqlite":
        engine = create_engine(f"sqlite:///{tmp_path / 'nested' / 'fresh.db'}")
        yield engine
        engine.dispose()
        return
    with request.getfixturevalue("postgres_database")() as url:
        engine = create_engine(url)
        yield engine
        engine.dispose()


def test_upgrading_twice_migrates_once(fresh_engine: sa.Engine) -> None:
    assert upgrade(fresh_engine) is True
    assert upgrade(fresh_engine) is False
    with fresh_engine.connect() as conn:
        assert current_revisions(conn) == head_revisions()
    assert set(sa.inspect(fresh_engine).get_table_names()) >= TABLES


def test_the_migrations_build_exactly_the_tables_module(fresh_engine: sa.Engine) -> None:
    upgrade(fresh_engine)
    with fresh_engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "version_table": VERSION_TABLE}
        )
        assert compare_metadata(context, metadata) == []


def _upgrade_in_child(url: str) -> bool:
    engine = create_engine(url)
    try:
        return upgrade(engine)
    finally:
        engine.dispose()


def test_concurrent_first_upgrades_from_two_processes_migrate_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        results = pool.map(_upgrade_in_child, [url, url])
    assert sorted(results) == [False, True]
    engine = create_engine(url)
    with engine.connect() as conn:
        assert current_revisions(conn) == head_revisions()
    engine.dispose()
