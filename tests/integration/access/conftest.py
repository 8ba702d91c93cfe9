"""Stores and limiters for the access contracts: in-memory, SQLite, PostgreSQL and Redis."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from access_stores import AT, REDIS_URL, AccessStores

from shoal.storage.engine import create_engine
from shoal.storage.memory_access import InMemoryKeyStore, InMemoryPlanStore
from shoal.storage.memory_registry import InMemoryRegistryStore
from shoal.storage.migrate import upgrade
from shoal.storage.sql_access import SqlKeyStore, SqlPlanStore
from shoal.storage.sql_registry import SqlRegistryStore
from shoal.storage.tables import metadata


def pytest_configure(config: pytest.Config) -> None:
    # Registered here, so ``pytest.mark.redis`` may be used only once this has run: in test
    # modules, not at this module's top level.
    config.addinivalue_line("markers", "redis: needs the Redis server on 127.0.0.1:6379")


@pytest.fixture(scope="session")
def access_postgres_engine(postgres_url: str) -> Iterator[sa.Engine]:
    engine = create_engine(postgres_url)
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[AccessStores]:
    """Each store implementation, empty but for the tenants 'acme' and 'globex'."""
    if request.param == "memory":
        registry = InMemoryRegistryStore()
        found = AccessStores(registry, InMemoryKeyStore(registry), InMemoryPlanStore())
        engine = None
    else:
        if request.param == "sqlite":
            engine = create_engine(f"sqlite:///{tmp_path / 'access.db'}")
            upgrade(engine)
        else:
            engine = request.getfixturevalue("access_postgres_engine")
            names = ", ".join(table.name for table in metadata.sorted_tables)
            with engine.begin() as conn:
                conn.exec_driver_sql(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
        found = AccessStores(SqlRegistryStore(engine), SqlKeyStore(engine), SqlPlanStore(engine))
    for tenant in ("acme", "globex"):
        found.registry.add_tenant(tenant, "", "admin", AT)
    yield found
    if request.param == "sqlite" and engine is not None:
        engine.dispose()


@pytest.fixture(scope="session")
def redis_client() -> Iterator[Any]:
    """A client of the Redis on 127.0.0.1:6379; the test is skipped when it is unreachable."""
    redis = pytest.importorskip("redis", reason="the redis package is not installed")
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1, socket_timeout=5)
    try:
        client.ping()
    except redis.exceptions.RedisError as exc:
        pytest.skip(f"Redis at {REDIS_URL} is unreachable: {exc}")
    yield client
    client.close()


@pytest.fixture
def redis_prefix(redis_client: Any) -> Iterator[str]:
    """A key prefix of this test alone; its keys are deleted afterwards."""
    prefix = f"shoal-test:{uuid.uuid4().hex}:"
    yield prefix
    keys = list(redis_client.scan_iter(match=f"{prefix}*"))
    if keys:
        redis_client.delete(*keys)
