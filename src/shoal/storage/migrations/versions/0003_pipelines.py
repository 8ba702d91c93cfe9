"""Pipeline runs, steps, items and snapshots.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22

Spelled out rather than taken from ``tables.py``, like 0001, so it keeps creating this schema.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None


def _name(length: int) -> sa.types.TypeEngine[str]:
    return sa.String(length).with_variant(sa.String(length, collation="C"), "postgresql")


def _timestamp() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def _run_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["run_id"], ["pipeline_runs.id"], name=f"fk_{table}_run_id_pipeline_runs"
    )


def upgrade() -> None:
    op.create_table(
        "pipeline_runs",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("pipeline", _name(128), nullable=False),
        sa.Column("reference", sa.Text(), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("executor", sa.String(32), nullable=False),
        sa.Column("created_at", _timestamp(), nullable=False),
        sa.Column("created_by", sa.String(255), nullable=False),
        sa.Column("finished_at", _timestamp(), nullable=True),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("rerun_of", sa.String(32), nullable=True),
        sa.Column("owner", sa.String(255), nullable=False),
        sa.Column("heartbeat_at", _timestamp(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_pipeline_runs"),
    )
    op.create_index("ix_pipeline_runs_created", "pipeline_runs", ["created_at", "id"])
    op.create_index("ix_pipeline_runs_pipeline", "pipeline_runs", ["pipeline", "created_at", "id"])
    op.create_table(
        "pipeline_steps",
        sa.Column("run_id", sa.String(32), nullable=False),
        sa.Column("name", _name(128), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("code_digest", sa.String(64), nullable=False),
        sa.Column("fan_out", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("items", sa.Integer(), nullable=True),
        sa.Column("started_at", _timestamp(), nullable=True),
        sa.Column("finished_at", _timestamp(), nullable=True),
        sa.Column("error", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("run_id", "name", name="pk_pipeline_steps"),
        _run_fk("pipeline_steps"),
    )
    op.create_table(
        "pipeline_items",
        sa.Column("run_id", sa.String(32), nullable=False),
        sa.Column("step", _name(128), nullable=False),
        sa.Column("item", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("cache_key", sa.String(64), nullable=False),
        sa.Column("started_at", _timestamp(), nullable=False),
        sa.Column("finished_at", _timestamp(), nullable=False),
        sa.Column("output_digest", sa.String(64), nullable=True),
        sa.Column("output_size", sa.BigInteger(), nullable=True),
        sa.Column("output_format", sa.String(64), nullable=True),
        sa.Column("output_inline", sa.LargeBinary(), nullable=True),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.Column("logs", sa.Text(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("registered", sa.JSON(), nullable=False),
        sa.Column("reused_from", sa.String(32), nullable=True),
        sa.PrimaryKeyConstraint("run_id", "step", "item", name="pk_pipeline_items"),
        _run_fk("pipeline_items"),
    )
    op.create_index("ix_pipeline_items_cache_key", "pipeline_items", ["cache_key"])
    op.create_table(
        "pipeline_snapshots",
        sa.Column("run_id", sa.String(32), nullable=False),
        sa.Column("step", _name(128), nullable=False),
        sa.Column("item", sa.Integer(), nullable=False),
        sa.Column("name", _name(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("created_at", _timestamp(), nullable=False),
        sa.PrimaryKeyConstraint("run_id", "step", "item", "name", name="pk_pipeline_snapshots"),
        _run_fk("pipeline_snapshots"),
    )


def downgrade() -> None:
    op.drop_table("pipeline_snapshots")
    op.drop_index("ix_pipeline_items_cache_key", table_name="pipeline_items")
    op.drop_table("pipeline_items")
    op.drop_table("pipeline_steps")
    op.drop_index("ix_pipeline_runs_pipeline", table_name="pipeline_runs")
    op.drop_index("ix_pipeline_runs_created", table_name="pipeline_runs")
    op.drop_table("pipeline_runs")
