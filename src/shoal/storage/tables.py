"""The registry's SQL schema as SQLAlchemy Core tables (the migrations create the same tables).

Names compare byte-wise everywhere (``COLLATE "C"`` on PostgreSQL, SQLite's default BINARY), so
the database orders names exactly as Python sorts strings and keyset pagination agrees with the
in-memory store. Timestamps are stored and returned as timezone-aware UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    Dialect,
    Double,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.types import TypeDecorator, TypeEngine

VERSION_TABLE = "shoal_alembic_version"
"""Alembic's bookkeeping table; prefixed so a database shared with another app cannot clash."""


def name_type(length: int) -> TypeEngine[str]:
    """A name column that compares byte-wise on every backend."""
    return String(length).with_variant(String(length, collation="C"), "postgresql")


ID_TYPE: TypeEngine[int] = BigInteger().with_variant(Integer(), "sqlite")
"""Surrogate keys: 64-bit on PostgreSQL, INTEGER on SQLite so it aliases the rowid."""


class UtcDateTime(TypeDecorator[datetime]):
    """A ``timestamp with time zone`` that always binds and returns aware UTC datetimes.

    SQLite keeps no zone, so values are normalised to UTC before they are written and tagged as
    UTC when they are read back.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"timestamp {value.isoformat()} has no time zone")
        utc = value.astimezone(UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

tenants = Table(
    "tenants",
    metadata,
    Column("id", ID_TYPE, primary_key=True, autoincrement=True),
    Column("name", name_type(64), nullable=False, unique=True),
    Column("description", Text, nullable=False, default=""),
    Column("created_at", UtcDateTime, nullable=False),
    Column("created_by", String(255), nullable=False),
)

models = Table(
    "models",
    metadata,
    Column("id", ID_TYPE, primary_key=True, autoincrement=True),
    Column("tenant_id", ID_TYPE, ForeignKey("tenants.id"), nullable=False),
    Column("name", name_type(64), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    # The last number handed out; never decreases, so deleted versions' numbers are not reused.
    Column("latest_version", Integer, nullable=False, default=0),
    UniqueConstraint("tenant_id", "name"),
)

model_versions = Table(
    "model_versions",
    metadata,
    Column("model_id", ID_TYPE, ForeignKey("models.id"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("format", String(64), nullable=False),
    Column("artifact_digest", String(64), nullable=False, index=True),
    Column("artifact_size", BigInteger, nullable=False),
    Column("signature", JSON, nullable=False),
    Column("params", JSON, nullable=False),
    Column("metrics", JSON, nullable=False),
    Column("tags", JSON, nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("run_id", String(255), nullable=True),
    Column("snapshot_id", String(255), nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("created_by", String(255), nullable=False),
    Column("approval", String(16), nullable=False),
    PrimaryKeyConstraint("model_id", "version"),
)

aliases = Table(
    "aliases",
    metadata,
    Column("model_id", ID_TYPE, ForeignKey("models.id"), nullable=False),
    Column("alias", name_type(32), nullable=False),
    Column("version", Integer, nullable=False),
    PrimaryKeyConstraint("model_id", "alias"),
    # An alias can only point at a version that exists.
    ForeignKeyConstraint(
        ["model_id", "version"],
        ["model_versions.model_id", "model_versions.version"],
        name="fk_aliases_model_id_version_model_versions",
    ),
)

audit_events = Table(
    "audit_events",
    metadata,
    Column("id", ID_TYPE, primary_key=True, autoincrement=True),
    Column("at", UtcDateTime, nullable=False),
    Column("actor", String(255), nullable=False),
    Column("action", String(32), nullable=False),
    Column("tenant", name_type(64), nullable=False),
    Column("model", name_type(64), nullable=True),
    Column("version", Integer, nullable=True),
    Column("alias", name_type(32), nullable=True),
    Column("previous_version", Integer, nullable=True),
    Column("comment", Text, nullable=False, default=""),
    Index("ix_audit_events_scope", "tenant", "model", "alias", "id"),
)

# -- access (migration 0002) ---------------------------------------------------------------

api_keys = Table(
    "api_keys",
    metadata,
    # The key id is the public half of a token (16 hex digits); only the secret's hash is kept.
    Column("id", name_type(16), primary_key=True),
    Column("name", name_type(64), nullable=False),
    Column("scope", String(16), nullable=False),
    Column("tenant_id", ID_TYPE, ForeignKey("tenants.id"), nullable=True),
    Column("secret_hash", String(64), nullable=False),
    Column("prefix", String(64), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("created_by", String(255), nullable=False),
    Column("revoked_at", UtcDateTime, nullable=True),
    Column("revoked_by", String(255), nullable=True),
    # Admin keys belong to no tenant; tenant keys to exactly one.
    CheckConstraint("(scope = 'admin') = (tenant_id IS NULL)", name="ck_api_keys_scope_tenant"),
    Index("ix_api_keys_created", "created_at", "id"),
    Index("ix_api_keys_tenant", "tenant_id", "created_at", "id"),
)

usage_plans = Table(
    "usage_plans",
    metadata,
    # A tenant name, or ``key:<key id>`` for a plan of one key.
    Column("subject", name_type(80), primary_key=True),
    Column("rate_per_s", Double, nullable=False),
    Column("burst", Integer, nullable=False),
    Column("quota_per_day", BigInteger, nullable=True),
    Column("quota_per_month", BigInteger, nullable=True),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("updated_by", String(255), nullable=False),
)

# -- pipelines (migration 0003) ------------------------------------------------------------

# -- jobs, schedules and the data-query audit (migration 0004) -------------------------------

# -- access audit (migration 0005) ---------------------------------------------------------

# -- data capture (migration 0006) ---------------------------------------------------------
