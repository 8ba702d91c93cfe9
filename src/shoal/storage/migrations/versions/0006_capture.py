"""Per-model data-capture settings: the capture_configs table.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22

Spelled out rather than taken from ``tables.py``, like 0001, so it keeps creating this schema.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
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
        "capture_configs",
        sa.Column("tenant_id", _id(), nullable=False),
        # A model name, or '*' for the tenant's default; no foreign key to models, so that
        # deleting a model does not need its capture setting removed first.
        sa.Column("model", _name(64), nullable=False),
        sa.Column("percent", sa.Double(), nullable=False),
        sa.Column("updated_at", _timestamp(), nullable=False),
        sa.Column("updated_by", sa.String(255), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "model", name="pk_capture_configs"),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name="fk_capture_configs_tenant_id_tenants"
        ),
        sa.CheckConstraint("percent >= 0 AND percent <= 100", name="ck_capture_configs_percent"),
    )


def downgrade() -> None:
    op.drop_table("capture_configs")
