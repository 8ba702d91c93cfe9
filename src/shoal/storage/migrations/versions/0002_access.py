"""Create the access tables: api_keys and usage_plans.

Revision ID: 0002
Revises: 0001
Create Date: 2025-02-01

Spelled out rather than taken from ``tables.py``, like 0001, so it keeps creating this schema.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
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
        "api_keys",
        sa.Column("id", _name(16), nullable=False),
        sa.Column("name", _name(64), nullable=False),
        sa.Column("scope", sa.String(16), nullable=False),
        sa.Column("tenant_id", _id(), nullable=True),
        sa.Column("secret_hash", sa.String(64), nullable=False),
        sa.Column("prefix", sa.String(64), nullable=False),
        sa.Column("created_at", _timestamp(), nullable=False),
        sa.Column("created_by", sa.String(255), nullable=False),
        sa.Column("revoked_at", _timestamp(), nullable=True),
        sa.Column("revoked_by", sa.String(255), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_api_keys"),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name="fk_api_keys_tenant_id_tenants"
        ),
        sa.CheckConstraint(
            "(scope = 'admin') = (tenant_id IS NULL)", name="ck_api_keys_scope_tenant"
        ),
    )
    op.create_index("ix_api_keys_created", "api_keys", ["created_at", "id"])
    op.create_index("ix_api_keys_tenant", "api_keys", ["tenant_id", "created_at", "id"])
    op.create_table(
        "usage_plans",
        sa.Column("subject", _name(80), nullable=False),
        sa.Column("rate_per_s", sa.Double(), nullable=False),
        sa.Column("burst", sa.Integer(), nullable=False),
        sa.Column("quota_per_day", sa.BigInteger(), nullable=True),
        sa.Column("quota_per_month", sa.BigInteger(), nullable=True),
        sa.Column("updated_at", _timestamp(), nullable=False),
        sa.Column("updated_by", sa.String(255), nullable=False),
        sa.PrimaryKeyConstraint("subject", name="pk_usage_plans"),
    )


def downgrade() -> None:
    op.drop_table("usage_plans")
    op.drop_index("ix_api_keys_tenant", table_name="api_keys")
    op.drop_index("ix_api_keys_created", table_name="api_keys")
    op.drop_table("api_keys")
