"""Create the registry tables: tenants, models, model_versions, aliases and audit_events.

Revision ID: 0001
Revises:
Create Date: 2025-01-01

The tables are spelled out here rather than taken from ``tables.py`` so this migration keeps
creating the same schema when ``tables.py`` moves on.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def _name(length: int) -> sa.types.TypeEngine[str]:
    return sa.String(length).with_variant(sa.String(length, collation="C"), "postgresql")


def _id() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _timestamp() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "tenants",
        sa.Column("id", _id(), primary_key=True, autoincrement=True),
        sa.Column("name", _name(64), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("created_at", _timestamp(), nullable=False),
        sa.Column("created_by", sa.String(255), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_tenants"),
        sa.UniqueConstraint("name", name="uq_tenants_name"),
    )
    op.create_table(
        "models",
        sa.Column("id", _id(), primary_key=True, autoincrement=True),
        sa.Column("tenant_id", _id(), nullable=False),
        sa.Column("name", _name(64), nullable=False),
        sa.Column("created_at", _timestamp(), nullable=False),
        sa.Column("latest_version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_models"),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name="fk_models_tenant_id_tenants"),
        sa.UniqueConstraint("tenant_id", "name", name="uq_models_tenant_id_name"),
    )
    op.create_table(
        "model_versions",
        sa.Column("model_id", _id(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("format", sa.String(64), nullable=False),
        sa.Column("artifact_digest", sa.String(64), nullable=False),
        sa.Column("artifact_size", sa.BigInteger(), nullable=False),
        sa.Column("signature", sa.JSON(), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("run_id", sa.String(255), nullable=True),
        sa.Column("snapshot_id", sa.String(255), nullable=True),
        sa.Column("created_at", _timestamp(), nullable=False),
        sa.Column("created_by", sa.String(255), nullable=False),
        sa.Column("approval", sa.String(16), nullable=False),
        sa.PrimaryKeyConstraint("model_id", "version", name="pk_model_versions"),
        sa.ForeignKeyConstraint(
            ["model_id"], ["models.id"], name="fk_model_versions_model_id_models"
        ),
    )
    op.create_index("ix_model_versions_artifact_digest", "model_versions", ["artifact_digest"])
    op.create_table(
        "aliases",
        sa.Column("model_id", _id(), nullable=False),
        sa.Column("alias", _name(32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("model_id", "alias", name="pk_aliases"),
        sa.ForeignKeyConstraint(["model_id"], ["models.id"], name="fk_aliases_model_id_models"),
        sa.ForeignKeyConstraint(
            ["model_id", "version"],
            ["model_versions.model_id", "model_versions.version"],
            name="fk_aliases_model_id_version_model_versions",
        ),
    )
    op.create_table(
        "audit_events",
        sa.Column("id", _id(), primary_key=True, autoincrement=True),
        sa.Column("at", _timestamp(), nullable=False),
        sa.Column("actor", sa.String(255), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("tenant", _name(64), nullable=False),
        sa.Column("model", _name(64), nullable=True),
        sa.Column("version", sa.Integer(), nullable=True),
        sa.Column("alias", _name(32), nullable=True),
        sa.Column("previous_version", sa.Integer(), nullable=True),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_events"),
    )
    op.create_index("ix_audit_events_scope", "audit_events", ["tenant", "model", "alias", "id"])


def downgrade() -> None:
    op.drop_index("ix_audit_events_scope", table_name="audit_events")
    op.drop_table("audit_events")
    op.drop_table("aliases")
    op.drop_index("ix_model_versions_artifact_digest", table_name="model_versions")
    op.drop_table("model_versions")
    op.drop_table("models")
    op.drop_table("tenants")
