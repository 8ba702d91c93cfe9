"""``SqlCaptureConfigStore``: per-model and per-tenant capture settings in SQLite or PostgreSQL.

A tenant's default is the row whose model is ``*`` (``CAPTURE_TENANT_DEFAULT``), which no model
name can be; rows list by tenant name, then model, so a tenant's default comes first.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from shoal.observability.capture_config import CaptureConfig, check_percent, config_missing
from shoal.storage import registry_rules as rules
from shoal.storage.sql_store import SqlStore
from shoal.storage.tables import CAPTURE_TENANT_DEFAULT, capture_configs, tenants

_COLUMNS = (*capture_configs.c, tenants.c.name.label("tenant"))
_CONFIGS = capture_configs.join(tenants, capture_configs.c.tenant_id == tenants.c.id)


def _model_key(model: str | None) -> str:
    return CAPTURE_TENANT_DEFAULT if model is None else model


def _config(row: Any) -> CaptureConfig:
    return CaptureConfig(
        tenant=row.tenant,
        model=None if row.model == CAPTURE_TENANT_DEFAULT else row.model,
        percent=float(row.percent),
        updated_at=row.updated_at,
        updated_by=row.updated_by,
    )


class SqlCaptureConfigStore(SqlStore):
    """A ``CaptureConfigStore`` over a migrated database."""

    def set_config(self, config: CaptureConfig, actor: str, at: datetime) -> CaptureConfig:
        at = rules.as_utc(at)
        percent = check_percent(config.percent)
        with self._write() as conn:
            tenant_id = conn.execute(
                sa.select(tenants.c.id).where(tenants.c.name == config.tenant)
            ).scalar()
            if tenant_id is None:
                raise rules.tenant_missing(config.tenant)
            values = {
                "tenant_id": tenant_id,
                "model": _model_key(config.model),
                "percent": percent,
                "updated_at": at,
                "updated_by": actor,
            }
            dialect = postgresql if self._engine.dialect.name == "postgresql" else sqlite
            insert = dialect.insert(capture_configs).values(values)
            conn.execute(
                insert.on_conflict_do_update(
                    index_elements=[capture_configs.c.tenant_id, capture_configs.c.model],
                    set_={
                        "percent": insert.excluded.percent,
                        "updated_at": insert.excluded.updated_at,
                        "updated_by": insert.excluded.updated_by,
                    },
                )
            )
        return CaptureConfig(config.tenant, config.model, percent, at, actor)

    def _where(self, tenant: str, model: str | None) -> sa.ColumnElement[bool]:
        return sa.and_(tenants.c.name == tenant, capture_configs.c.model == _model_key(model))

    def find_config(self, tenant: str, model: str | None) -> CaptureConfig | None:
        query = sa.select(*_COLUMNS).select_from(_CONFIGS).where(self._where(tenant, model))
        with self._read() as conn:
            row = conn.execute(query).first()
        return None if row is None else _config(row)

    def remove_config(self, tenant: str, model: str | None) -> CaptureConfig:
        query = sa.select(*_COLUMNS).select_from(_CONFIGS).where(self._where(tenant, model))
        with self._write() as conn:
            row = conn.execute(query).first()
            if row is None:
                raise config_missing(tenant, model)
            conn.execute(
                sa.delete(capture_configs).where(
                    capture_configs.c.tenant_id == row.tenant_id,
                    capture_configs.c.model == row.model,
                )
            )
        return _config(row)

    def list_configs(self, tenant: str | None) -> list[CaptureConfig]:
        query = (
            sa.select(*_COLUMNS)
            .select_from(_CONFIGS)
            .order_by(tenants.c.name, capture_configs.c.model)
        )
        if tenant is not None:
            query = query.where(tenants.c.name == tenant)
        with self._read() as conn:
            return [_config(row) for row in conn.execute(query)]
