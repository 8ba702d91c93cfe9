"""The audit log of key and plan changes: access_events.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22

Spelled out rather than taken from ``tables.py``, like 0001 and 0002, so it keeps creating
this schema. The registry's audit_events table is not reused: its rows belong to a tenant,
and admin keys and plans of one key belong to none.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
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
        "access_events",
        sa.Column("id", _id(), autoincrement=True, nullable=False),
        sa.Column("at", _timestamp(), nullable=False),
        sa.Column("actor", sa.String(255), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("subject", _name(80), nullable=False),
        sa.Column("tenant", _name(64), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_access_events"),
    )
    op.create_index("ix_access_events_subject", "access_events", ["subject", "id"])
    op.create_index("ix_access_events_tenant", "access_events", ["tenant", "id"])


def downgrade() -> None:
    op.drop_index("ix_access_events_tenant", table_name="access_events")
    op.drop_index("ix_access_events_subject", table_name="access_events")
    op.drop_table("access_events")
