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
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Dialect,
    Double,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
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

pipeline_runs = Table(
    "pipeline_runs",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("pipeline", name_type(128), nullable=False),
    # module:attribute or file.py:attribute: how resume and rerun load the pipeline again.
    Column("reference", Text, nullable=False),
    Column("params", JSON, nullable=False),
    Column("status", String(16), nullable=False),
    Column("executor", String(32), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("created_by", String(255), nullable=False),
    Column("finished_at", UtcDateTime, nullable=True),
    Column("error", Text, nullable=False, default=""),
    Column("rerun_of", String(32), nullable=True),
    # host:pid of the runner while it runs; resume takes over only when it is gone.
    Column("owner", String(255), nullable=False, default=""),
    Column("heartbeat_at", UtcDateTime, nullable=True),
    Column("attempts", Integer, nullable=False, default=1),
    Index("ix_pipeline_runs_created", "created_at", "id"),
    Index("ix_pipeline_runs_pipeline", "pipeline", "created_at", "id"),
)

pipeline_steps = Table(
    "pipeline_steps",
    metadata,
    Column("run_id", String(32), ForeignKey("pipeline_runs.id"), nullable=False),
    Column("name", name_type(128), nullable=False),
    Column("position", Integer, nullable=False),
    Column("code_digest", String(64), nullable=False),
    Column("fan_out", Boolean, nullable=False),
    Column("status", String(16), nullable=False),
    Column("items", Integer, nullable=True),
    Column("started_at", UtcDateTime, nullable=True),
    Column("finished_at", UtcDateTime, nullable=True),
    Column("error", Text, nullable=False, default=""),
    PrimaryKeyConstraint("run_id", "name"),
)

pipeline_items = Table(
    "pipeline_items",
    metadata,
    Column("run_id", String(32), ForeignKey("pipeline_runs.id"), nullable=False),
    Column("step", name_type(128), nullable=False),
    Column("item", Integer, nullable=False),
    Column("key", String(200), nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("cache_key", String(64), nullable=False, index=True),
    Column("started_at", UtcDateTime, nullable=False),
    Column("finished_at", UtcDateTime, nullable=False),
    Column("output_digest", String(64), nullable=True),
    Column("output_size", BigInteger, nullable=True),
    Column("output_format", String(64), nullable=True),
    # Small outputs live here instead of in the artifact store (same digest either way).
    Column("output_inline", LargeBinary, nullable=True),
    Column("metrics", JSON, nullable=False),
    Column("logs", Text, nullable=False, default=""),
    Column("error", Text, nullable=False, default=""),
    Column("registered", JSON, nullable=False),
    Column("reused_from", String(32), nullable=True),
    PrimaryKeyConstraint("run_id", "step", "item"),
)

pipeline_snapshots = Table(
    "pipeline_snapshots",
    metadata,
    Column("run_id", String(32), ForeignKey("pipeline_runs.id"), nullable=False),
    Column("step", name_type(128), nullable=False),
    Column("item", Integer, nullable=False),
    Column("name", name_type(64), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("digest", String(64), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    PrimaryKeyConstraint("run_id", "step", "item", "name"),
)

# -- jobs, schedules and the data-query audit (migration 0004) -------------------------------

jobs = Table(
    "jobs",
    metadata,
    Column("id", String(32), primary_key=True),
    # Jobs fanned out over one parameter grid share a batch id.
    Column("batch", String(32), nullable=True),
    Column("notebook", String(1024), nullable=False),
    Column("notebook_digest", String(64), nullable=False),
    Column("parameters", JSON, nullable=False),
    Column("status", String(16), nullable=False),
    Column("actor", String(255), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("started_at", UtcDateTime, nullable=True),
    Column("finished_at", UtcDateTime, nullable=True),
    Column("max_runtime_s", Double, nullable=True),
    Column("wall_s", Double, nullable=True),
    Column("cpu_s", Double, nullable=True),
    Column("peak_memory_bytes", BigInteger, nullable=True),
    Column("output_digest", String(64), nullable=True),
    Column("html_digest", String(64), nullable=True),
    Column("error", Text, nullable=True),
    Column("failed_cell", Integer, nullable=True),
    Column("traceback", Text, nullable=True),
    Index("ix_jobs_created", "created_at", "id"),
    Index("ix_jobs_batch", "batch", "created_at", "id"),
)

schedules = Table(
    "schedules",
    metadata,
    Column("id", ID_TYPE, primary_key=True, autoincrement=True),
    Column("name", name_type(64), nullable=False, unique=True),
    Column("pipeline", String(1024), nullable=False),
    Column("cron", String(255), nullable=False),
    Column("timezone", String(64), nullable=False),
    Column("parameters", JSON, nullable=False),
    Column("missed", String(16), nullable=False),
    Column("state", String(16), nullable=False),
    # Fire times before this (creation or the last resume) are never run or caught up.
    Column("active_since", UtcDateTime, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("created_by", String(255), nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("updated_by", String(255), nullable=False),
)

schedule_fires = Table(
    "schedule_fires",
    metadata,
    Column("schedule_id", ID_TYPE, ForeignKey("schedules.id"), nullable=False),
    Column("fire_at", UtcDateTime, nullable=False),
    Column("status", String(16), nullable=False),
    Column("claimed_by", String(255), nullable=False),
    Column("claimed_at", UtcDateTime, nullable=False),
    Column("finished_at", UtcDateTime, nullable=True),
    Column("run_id", String(255), nullable=True),
    Column("exit_code", Integer, nullable=True),
    Column("detail", Text, nullable=True),
    # The claim: two schedulers inserting the same (schedule, fire time) cannot both succeed.
    PrimaryKeyConstraint("schedule_id", "fire_at"),
)

query_log = Table(
    "query_log",
    metadata,
    Column("id", ID_TYPE, primary_key=True, autoincrement=True),
    Column("at", UtcDateTime, nullable=False),
    Column("actor", String(255), nullable=False),
    Column("query", Text, nullable=False),
    Column("tables", JSON, nullable=False),
    Column("rows", BigInteger, nullable=True),
    Column("duration_ms", Double, nullable=False),
    Column("status", String(16), nullable=False),
    Column("error", Text, nullable=True),
    Index("ix_query_log_actor", "actor", "id"),
)

# -- access audit (migration 0005) ---------------------------------------------------------

access_events = Table(
    "access_events",
    metadata,
    Column("id", ID_TYPE, primary_key=True, autoincrement=True),
    Column("at", UtcDateTime, nullable=False),
    Column("actor", String(255), nullable=False),
    Column("action", String(32), nullable=False),
    # ``key:<key id>`` for key events, the plan's subject for plan events.
    Column("subject", name_type(80), nullable=False),
    # No foreign key: the log outlives what it describes, like audit_events.
    Column("tenant", name_type(64), nullable=True),
    Column("detail", JSON, nullable=False),
    Index("ix_access_events_subject", "subject", "id"),
    Index("ix_access_events_tenant", "tenant", "id"),
)

# -- data capture (migration 0006) ---------------------------------------------------------

CAPTURE_TENANT_DEFAULT = "*"
"""The ``model`` of a tenant's default capture setting: never a valid model name."""

capture_configs = Table(
    "capture_configs",
    metadata,
    Column("tenant_id", ID_TYPE, ForeignKey("tenants.id"), nullable=False),
    # No foreign key to models: deleting a model must not need its capture setting gone first.
    Column("model", name_type(64), nullable=False),
    Column("percent", Double, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("updated_by", String(255), nullable=False),
    PrimaryKeyConstraint("tenant_id", "model"),
    CheckConstraint("percent >= 0 AND percent <= 100", name="ck_capture_configs_percent"),
)
