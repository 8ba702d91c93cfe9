"""Capture settings in SQL (SQLite and PostgreSQL): the store contract and the service over it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa

from shoal.errors import NotFoundError, ValidationError
from shoal.observability.capture import TenantRules
from shoal.observability.capture_config import CaptureConfig, CaptureConfigService
from shoal.registry.records import ArtifactInfo, VersionDraft
from shoal.runtimes.signature import Signature
from shoal.storage.engine import create_engine
from shoal.storage.migrate import upgrade
from shoal.storage.sql_capture import SqlCaptureConfigStore
from shoal.storage.sql_registry import SqlRegistryStore
from shoal.storage.tables import metadata

AT = datetime(2026, 11, 22, 10, 30, 15, 123456, tzinfo=UTC)


@pytest.fixture(scope="session")
def capture_postgres_engine(postgres_url: str) -> Iterator[sa.Engine]:
    engine = create_engine(postgres_url)
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    """A migrated database holding the tenants acme and globex and the model acme/churn."""
    if request.param == "sqlite":
        found = create_engine(f"sqlite:///{tmp_path / 'capture.db'}")
        upgrade(found)
    else:
        found = request.getfixturevalue("capture_postgres_engine")
        names = ", ".join(table.name for table in metadata.sorted_tables)
        with found.begin() as conn:
            conn.exec_driver_sql(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
    registry = SqlRegistryStore(found)
    for tenant in ("acme", "globex"):
        registry.add_tenant(tenant, "", "admin", AT)
    draft = VersionDraft(
        tenant="acme",
        model="churn",
        format="sklearn",
        artifact=ArtifactInfo("0" * 64, 1),
        signature=Signature(),
        created_at=AT,
        created_by="admin",
    )
    registry.add_versions([draft])
    yield found
    if request.param == "sqlite":
        found.dispose()


@pytest.fixture
def store(engine: sa.Engine) -> SqlCaptureConfigStore:
    return SqlCaptureConfigStore(engine)


@pytest.fixture
def service(engine: sa.Engine, store: SqlCaptureConfigStore) -> CaptureConfigService:
    return CaptureConfigService(store, SqlRegistryStore(engine))


def test_a_setting_round_trips_with_its_trail_in_utc(store: SqlCaptureConfigStore) -> None:
    plus_two = timezone(timedelta(hours=2))
    saved = store.set_config(CaptureConfig("acme", "churn", 12.5), "alice", AT.astimezone(plus_two))
    assert saved == CaptureConfig("acme", "churn", 12.5, AT, "alice")
    assert store.find_config("acme", "churn") == saved
    assert store.find_config("acme", None) is None
    assert store.find_config("acme", "fraud") is None


def test_setting_again_replaces_and_a_tenant_default_is_its_own_row(
    store: SqlCaptureConfigStore,
) -> None:
    store.set_config(CaptureConfig("acme", "churn", 10.0), "alice", AT)
    store.set_config(CaptureConfig("acme", "churn", 100.0), "bob", AT + timedelta(seconds=1))
    store.set_config(CaptureConfig("acme", None, 1.0), "bob", AT)
    assert store.find_config("acme", "churn") == CaptureConfig(
        "acme", "churn", 100.0, AT + timedelta(seconds=1), "bob"
    )
    assert store.find_config("acme", None) == CaptureConfig("acme", None, 1.0, AT, "bob")


def test_settings_list_by_tenant_with_its_default_first(store: SqlCaptureConfigStore) -> None:
    for tenant, model in [("globex", "b"), ("acme", "zeta"), ("acme", None), ("acme", "alpha")]:
        store.set_config(CaptureConfig(tenant, model, 5.0), "alice", AT)
    subjects = [c.subject for c in store.list_configs(None)]
    assert subjects == ["acme", "acme/alpha", "acme/zeta", "globex/b"]
    assert [c.subject for c in store.list_configs("globex")] == ["globex/b"]


def test_removing_returns_the_setting_and_a_missing_one_is_not_found(
    store: SqlCaptureConfigStore,
) -> None:
    store.set_config(CaptureConfig("acme", None, 3.0), "alice", AT)
    assert store.remove_config("acme", None) == CaptureConfig("acme", None, 3.0, AT, "alice")
    with pytest.raises(NotFoundError, match="no capture setting for 'acme'"):
        store.remove_config("acme", None)
    with pytest.raises(NotFoundError, match="no capture setting for 'acme/churn'"):
        store.remove_config("acme", "churn")


def test_the_store_refuses_an_unknown_tenant_and_a_bad_percent(
    store: SqlCaptureConfigStore,
) -> None:
    with pytest.raises(NotFoundError, match="tenant 'ghost' does not exist"):
        store.set_config(CaptureConfig("ghost", "churn", 1.0), "alice", AT)
    with pytest.raises(ValidationError, match="between 0 and 100, got 101"):
        store.set_config(CaptureConfig("acme", "churn", 101.0), "alice", AT)


def test_the_database_itself_refuses_a_percent_over_100(engine: sa.Engine) -> None:
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO capture_configs (tenant_id, model, percent, updated_at, updated_by) "
            "VALUES (1, 'churn', 150, CURRENT_TIMESTAMP, 'x')"
        )


def test_the_service_sets_only_existing_models_and_shows_where_a_percent_comes_from(
    service: CaptureConfigService,
) -> None:
    with pytest.raises(NotFoundError, match="model acme/fraud does not exist"):
        service.set_config("acme", "fraud", 10.0, "alice")
    with pytest.raises(NotFoundError, match="tenant 'ghost' does not exist"):
        service.set_config("ghost", None, 10.0, "alice")
    assert service.get_config("acme", "churn").percent == 0.0
    assert service.get_config("acme", "churn").source is None
    default = service.set_config("acme", None, 5.0, "alice")
    assert service.get_config("acme", "churn").source == default
    own = service.set_config("acme", "churn", 50.0, "alice")
    effective = service.get_config("acme", "churn")
    assert (effective.percent, effective.source) == (50.0, own)
    assert service.rules() == {"acme": TenantRules(5.0, {"churn": 50.0})}
    with pytest.raises(NotFoundError, match="tenant 'ghost'"):
        service.list_configs("ghost")
