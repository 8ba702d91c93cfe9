"""The SQL statements of ``SqlRegistryStore``, built once so each call only binds parameters.

Bound parameter names: ``tenant`` and ``model`` (names), ``mid`` (model id), ``ver``
(version), ``al`` (alias); they differ from column names, which SQLAlchemy reserves in
INSERT and UPDATE statements.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql import Delete, Select

from shoal.registry.records import AuditQuery, ModelQuery
from shoal.storage.sql_rows import AUDIT_COLUMNS, TENANT_COLUMNS, VERSION_COLUMNS
from shoal.storage.tables import aliases, audit_events, model_versions, models, tenants

_MODEL_OF_TENANT = (
    tenants.c.name == sa.bindparam("tenant"),
    models.c.name == sa.bindparam("model"),
)
_MODEL_KEY = models.c.id == sa.bindparam("mid")
_VERSION_KEY = sa.and_(
    model_versions.c.model_id == sa.bindparam("mid"),
    model_versions.c.version == sa.bindparam("ver"),
)
_ALIAS_KEY = sa.and_(
    aliases.c.model_id == sa.bindparam("mid"), aliases.c.alias == sa.bindparam("al")
)


def _model_id_of_names() -> sa.ScalarSelect[Any]:
    return (
        sa.select(models.c.id)
        .select_from(models.join(tenants, models.c.tenant_id == tenants.c.id))
        .where(*_MODEL_OF_TENANT)
        .correlate(None)
        .scalar_subquery()
    )


def _version_where(number: sa.ColumnElement[Any]) -> Select[Any]:
    """Version ``number`` of ``:tenant/:model``, one row per alias pointing at it (or one).

    The model id and the number are uncorrelated subqueries, so the database computes each
    once and then reads one primary-key entry, whatever its statistics say about the tables.
    """
    pointing = aliases.alias("pointing")
    joined = model_versions.outerjoin(
        pointing,
        sa.and_(
            pointing.c.model_id == model_versions.c.model_id,
            pointing.c.version == model_versions.c.version,
        ),
    )
    return (
        sa.select(*VERSION_COLUMNS, pointing.c.alias.label("pointing_alias"))
        .select_from(joined)
        .where(
            model_versions.c.model_id == _model_id_of_names(), model_versions.c.version == number
        )
        .order_by(pointing.c.alias)
    )


def _aliased_number() -> sa.ScalarSelect[Any]:
    joined = aliases.join(models, aliases.c.model_id == models.c.id).join(
        tenants, models.c.tenant_id == tenants.c.id
    )
    return (
        sa.select(aliases.c.version)
        .select_from(joined)
        .where(*_MODEL_OF_TENANT, aliases.c.alias == sa.bindparam("al"))
        .correlate(None)
        .scalar_subquery()
    )


def _latest_number(approval: bool) -> sa.ScalarSelect[Any]:
    newest = model_versions.alias("newest")
    select = sa.select(newest.c.version).where(newest.c.model_id == _model_id_of_names())
    if approval:
        select = select.where(newest.c.approval == sa.bindparam("approval"))
    return select.order_by(newest.c.version.desc()).limit(1).correlate(None).scalar_subquery()


def _successor(prefix: str) -> str:
    """The smallest string greater than every string that starts with ``prefix``."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


class RegistryQueries:
    """Prepared statements and the builders of the paginated listings."""

    def __init__(self) -> None:
        model_join = models.join(tenants, models.c.tenant_id == tenants.c.id)
        self.tenant = sa.select(*TENANT_COLUMNS).where(tenants.c.name == sa.bindparam("tenant"))
        self.tenant_id = sa.select(tenants.c.id).where(tenants.c.name == sa.bindparam("tenant"))
        self.tenant_ids = sa.select(tenants.c.name, tenants.c.id).where(
            tenants.c.name.in_(sa.bindparam("names", expanding=True))
        )
        self.model_id = sa.select(models.c.id).select_from(model_join).where(*_MODEL_OF_TENANT)
        self.lock_model = self.model_id.with_for_update(of=models)
        self.model = (
            sa.select(models.c.id, models.c.created_at, models.c.latest_version)
            .select_from(model_join)
            .where(*_MODEL_OF_TENANT)
        )
        self.model_aliases = sa.select(aliases.c.alias, aliases.c.version).where(
            aliases.c.model_id == sa.bindparam("mid")
        )
        self.aliases_of_models = (
            sa.select(aliases.c.model_id, aliases.c.alias, aliases.c.version)
            .where(aliases.c.model_id.in_(sa.bindparam("ids", expanding=True)))
            .order_by(aliases.c.model_id, aliases.c.alias)
        )
        self.bump_latest = (
            sa.update(models)
            .where(
                models.c.tenant_id == sa.bindparam("tid"), models.c.name == sa.bindparam("model")
            )
            .values(latest_version=models.c.latest_version + sa.bindparam("count"))
            .returning(models.c.id, models.c.latest_version)
        )
        self.insert_model = sa.insert(models).returning(models.c.id)
        self.version = _version_where(sa.bindparam("ver"))
        self.aliased = _version_where(_aliased_number())
        self.latest = _version_where(_latest_number(approval=False))
        self.latest_with_approval = _version_where(_latest_number(approval=True))
        self.version_exists = sa.select(sa.literal(1)).where(_VERSION_KEY)
        self.all_versions = (
            sa.select(*VERSION_COLUMNS)
            .where(model_versions.c.model_id == sa.bindparam("mid"))
            .order_by(model_versions.c.version)
        )
        self.alias_target = sa.select(aliases.c.version).where(_ALIAS_KEY)
        self.insert_alias = sa.insert(aliases).values(
            model_id=sa.bindparam("mid"), alias=sa.bindparam("al"), version=sa.bindparam("ver")
        )
        self.move_alias = sa.update(aliases).where(_ALIAS_KEY).values(version=sa.bindparam("ver"))
        self.delete_alias = sa.delete(aliases).where(_ALIAS_KEY)
        self.set_approval = (
            sa.update(model_versions).where(_VERSION_KEY).values(approval=sa.bindparam("appr"))
        )
        self.delete_version = sa.delete(model_versions).where(_VERSION_KEY)
        self.delete_model: tuple[Delete, ...] = (
            sa.delete(aliases).where(aliases.c.model_id == sa.bindparam("mid")),
            sa.delete(model_versions).where(model_versions.c.model_id == sa.bindparam("mid")),
            sa.delete(models).where(_MODEL_KEY),
        )
        self.insert_audit = sa.insert(audit_events).returning(audit_events.c.id)
        self.count_refs = sa.select(sa.func.count()).where(
            model_versions.c.artifact_digest == sa.bindparam("digest")
        )

    @staticmethod
    def models_page(
        query: ModelQuery, tenant_id: int | None, after: tuple[str | int, ...] | None, limit: int
    ) -> Select[Any] | None:
        """Models in (tenant, name) order after ``after``; None when the page is surely empty."""
        select = (
            sa.select(
                tenants.c.name.label("tenant"),
                models.c.id,
                models.c.name,
                models.c.created_at,
                models.c.latest_version,
            )
            .select_from(models.join(tenants, models.c.tenant_id == tenants.c.id))
            .order_by(tenants.c.name, models.c.name)
            .limit(limit)
        )
        if query.name_prefix:
            # A range rather than LIKE: it uses the (tenant_id, name) index on every backend.
            prefix = query.name_prefix
            select = select.where(models.c.name >= prefix, models.c.name < _successor(prefix))
        if tenant_id is not None:
            select = select.where(models.c.tenant_id == tenant_id)
        if after is None:
            return select
        after_tenant, after_name = str(after[0]), str(after[1])
        if query.tenant is None:
            return select.where(
                sa.or_(
                    tenants.c.name > after_tenant,
                    sa.and_(tenants.c.name == after_tenant, models.c.name > after_name),
                )
            )
        if after_tenant > query.tenant:
            return None
        if after_tenant == query.tenant:
            select = select.where(models.c.name > after_name)
        return select

    @staticmethod
    def versions_page(model_id: int, after: int | None) -> Select[Any]:
        """One model's versions, newest first, older than ``after``."""
        select = (
            sa.select(*VERSION_COLUMNS)
            .where(model_versions.c.model_id == model_id)
            .order_by(model_versions.c.version.desc())
        )
        return select if after is None else select.where(model_versions.c.version < after)

    @staticmethod
    def audit_page(query: AuditQuery, after: int | None) -> Select[Any]:
        """Audit events matching ``query``, newest first, older than event ``after``."""
        select = sa.select(*AUDIT_COLUMNS).order_by(audit_events.c.id.desc())
        for column, value in (
            (audit_events.c.tenant, query.tenant),
            (audit_events.c.model, query.model),
            (audit_events.c.alias, query.alias),
        ):
            if value is not None:
                select = select.where(column == value)
        return select if after is None else select.where(audit_events.c.id < after)
