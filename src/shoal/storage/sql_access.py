"""``SqlKeyStore`` and ``SqlPlanStore``: API keys and usage plans in SQLite or PostgreSQL.

Every method is one transaction; writes take the write lock up front on SQLite (``writer``).
Keys list by (created_at, id) with keyset cursors; plans by subject. A key or plan change
leaves its trail on the row (created_by/revoked_by, updated_at/updated_by) and appends an
event to ``access_events`` in the same transaction (``SqlAccessAuditLog`` reads them): the
registry's audit_events table is tied to tenants and has no actions for keys or plans.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from shoal.access.records import (
    AccessAction,
    AccessEvent,
    AccessEventQuery,
    ApiKey,
    Scope,
    StoredKey,
    UsagePlan,
    key_detail,
    key_subject,
    plan_detail,
    plan_tenant,
)
from shoal.access.store import (
    key_after,
    key_exists,
    key_missing,
    key_order,
    key_revoked,
    plan_missing,
)
from shoal.registry.records import JsonScalar, Page, PageRequest
from shoal.storage import registry_rules as rules
from shoal.storage.sql_store import SqlStore
from shoal.storage.tables import access_events, api_keys, tenants, usage_plans

_KEY_COLUMNS = (*api_keys.c, tenants.c.name.label("tenant"))
_KEYS = api_keys.outerjoin(tenants, api_keys.c.tenant_id == tenants.c.id)


def _log(
    conn: Connection,
    action: AccessAction,
    subject: str,
    tenant: str | None,
    actor: str,
    at: datetime,
    detail: Mapping[str, JsonScalar],
) -> None:
    """Append an access event inside the caller's transaction."""
    values = {
        "at": at,
        "actor": actor,
        "action": action.value,
        "subject": subject,
        "tenant": tenant,
        "detail": dict(detail),
    }
    conn.execute(sa.insert(access_events), values)


def _key(row: Any) -> StoredKey:
    key = ApiKey(
        id=row.id,
        name=row.name,
        scope=Scope(row.scope),
        tenant=row.tenant,
        prefix=row.prefix,
        created_at=row.created_at,
        created_by=row.created_by,
        revoked_at=row.revoked_at,
        revoked_by=row.revoked_by,
    )
    return StoredKey(key, row.secret_hash)


class SqlKeyStore(SqlStore):
    """A ``KeyStore`` over a migrated database."""

    def add_key(self, stored: StoredKey) -> ApiKey:
        key = stored.key
        at = rules.as_utc(key.created_at, "created_at")
        with self._write() as conn:
            tenant_id = None
            if key.tenant is not None:
                tenant_id = conn.execute(
                    sa.select(tenants.c.id).where(tenants.c.name == key.tenant)
                ).scalar()
                if tenant_id is None:
                    raise rules.tenant_missing(key.tenant)
            values = {
                "id": key.id,
                "name": key.name,
                "scope": Scope(key.scope).value,
                "tenant_id": tenant_id,
                "secret_hash": stored.secret_hash,
                "prefix": key.prefix,
                "created_at": at,
                "created_by": key.created_by,
                "revoked_at": None,
                "revoked_by": None,
            }
            try:
                with conn.begin_nested():
                    conn.execute(sa.insert(api_keys), values)
            except IntegrityError as exc:
                raise key_exists(key.id) from exc
            added = replace(key, created_at=at, revoked_at=None, revoked_by=None)
            _log(
                conn,
                AccessAction.KEY_CREATED,
                key_subject(key.id),
                key.tenant,
                key.created_by,
                at,
                key_detail(added),
            )
        return added

    def find_key(self, key_id: str) -> StoredKey | None:
        query = sa.select(*_KEY_COLUMNS).select_from(_KEYS).where(api_keys.c.id == key_id)
        with self._read() as conn:
            row = conn.execute(query).first()
        return None if row is None else _key(row)

    def list_keys(self, tenant: str | None, page: PageRequest) -> Page[ApiKey]:
        after = rules.page_key(page, str, str)
        query = (
            sa.select(*_KEY_COLUMNS)
            .select_from(_KEYS)
            .order_by(api_keys.c.created_at, api_keys.c.id)
            .limit(page.limit + 1)
        )
        if after is not None:
            at, key_id = key_after(after)
            query = query.where(
                sa.or_(
                    api_keys.c.created_at > at,
                    sa.and_(api_keys.c.created_at == at, api_keys.c.id > key_id),
                )
            )
        with self._read() as conn:
            if tenant is not None:
                tenant_id = conn.execute(
                    sa.select(tenants.c.id).where(tenants.c.name == tenant)
                ).scalar()
                if tenant_id is None:
                    raise rules.tenant_missing(tenant)
                query = query.where(api_keys.c.tenant_id == tenant_id)
            found = [_key(row).key for row in conn.execute(query)]
        return rules.page_of(found, page.limit, key_order)

    def revoke_key(self, key_id: str, actor: str, at: datetime) -> ApiKey:
        at = rules.as_utc(at)
        by_id = sa.select(*_KEY_COLUMNS).select_from(_KEYS).where(api_keys.c.id == key_id)
        with self._write() as conn:
            revoked = conn.execute(
                sa.update(api_keys)
                .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
                .values(revoked_at=at, revoked_by=actor)
            )
            row = conn.execute(by_id).first()
            if row is None:
                raise key_missing(key_id)
            key = _key(row).key
            if revoked.rowcount == 0:
                raise key_revoked(key)
            _log(
                conn,
                AccessAction.KEY_REVOKED,
                key_subject(key_id),
                key.tenant,
                actor,
                at,
                key_detail(key),
            )
            return key


def _plan(row: Any) -> UsagePlan:
    return UsagePlan(
        subject=row.subject,
        rate_per_s=float(row.rate_per_s),
        burst=int(row.burst),
        quota_per_day=row.quota_per_day,
        quota_per_month=row.quota_per_month,
        updated_at=row.updated_at,
        updated_by=row.updated_by,
    )


class SqlPlanStore(SqlStore):
    """A ``PlanStore`` over a migrated database."""

    def set_plan(self, plan: UsagePlan, actor: str, at: datetime) -> UsagePlan:
        at = rules.as_utc(at)
        values = {
            "subject": plan.subject,
            "rate_per_s": plan.rate_per_s,
            "burst": plan.burst,
            "quota_per_day": plan.quota_per_day,
            "quota_per_month": plan.quota_per_month,
            "updated_at": at,
            "updated_by": actor,
        }
        dialect = postgresql if self._engine.dialect.name == "postgresql" else sqlite
        insert = dialect.insert(usage_plans).values(values)
        upsert = insert.on_conflict_do_update(
            index_elements=[usage_plans.c.subject],
            set_={name: insert.excluded[name] for name in values if name != "subject"},
        )
        with self._write() as conn:
            conn.execute(upsert)
            _log(
                conn,
                AccessAction.PLAN_SET,
                plan.subject,
                plan_tenant(plan.subject),
                actor,
                at,
                plan_detail(plan),
            )
        return replace(plan, updated_at=at, updated_by=actor)

    def find_plan(self, subject: str) -> UsagePlan | None:
        query = sa.select(usage_plans).where(usage_plans.c.subject == subject)
        with self._read() as conn:
            row = conn.execute(query).first()
        return None if row is None else _plan(row)

    def remove_plan(
        self, subject: str, actor: str | None = None, at: datetime | None = None
    ) -> UsagePlan:
        at = rules.as_utc(at or datetime.now(UTC))
        query = sa.select(usage_plans).where(usage_plans.c.subject == subject)
        with self._write() as conn:
            row = conn.execute(query.with_for_update()).first()
            if row is None:
                raise plan_missing(subject)
            conn.execute(sa.delete(usage_plans).where(usage_plans.c.subject == subject))
            removed = _plan(row)
            _log(
                conn,
                AccessAction.PLAN_REMOVED,
                subject,
                plan_tenant(subject),
                actor or "unknown",
                at,
                plan_detail(removed),
            )
        return removed

    def list_plans(self, page: PageRequest) -> Page[UsagePlan]:
        after = rules.page_key(page, str)
        query = sa.select(usage_plans).order_by(usage_plans.c.subject).limit(page.limit + 1)
        if after is not None:
            query = query.where(usage_plans.c.subject > after[0])
        with self._read() as conn:
            found = [_plan(row) for row in conn.execute(query)]
        return rules.page_of(found, page.limit, lambda plan: (plan.subject,))


def _event(row: Any) -> AccessEvent:
    return AccessEvent(
        id=int(row.id),
        at=row.at,
        actor=row.actor,
        action=AccessAction(row.action),
        subject=row.subject,
        tenant=row.tenant,
        detail=dict(row.detail or {}),
    )


class SqlAccessAuditLog(SqlStore):
    """An ``AccessAuditLog`` over a migrated database (the stores above append to it)."""

    def list_access_events(self, query: AccessEventQuery, page: PageRequest) -> Page[AccessEvent]:
        after = rules.page_key(page, int)
        select = sa.select(access_events).order_by(access_events.c.id.desc()).limit(page.limit + 1)
        if after is not None:
            select = select.where(access_events.c.id < after[0])
        if query.subject is not None:
            select = select.where(access_events.c.subject == query.subject)
        if query.tenant is not None:
            select = select.where(access_events.c.tenant == query.tenant)
        with self._read() as conn:
            found = [_event(row) for row in conn.execute(select)]
        return rules.page_of(found, page.limit, lambda event: (event.id,))

    def newest_event_id(self) -> int:
        with self._read() as conn:
            newest = conn.execute(sa.select(sa.func.max(access_events.c.id))).scalar()
        return 0 if newest is None else int(newest)

    def changes_since(self, after_id: int) -> tuple[int, set[str]]:
        with self._read() as conn:
            rows = conn.execute(
                sa.select(access_events.c.id, access_events.c.subject).where(
                    access_events.c.id > after_id
                )
            ).all()
        if not rows:
            return after_id, set()
        return max(int(row.id) for row in rows), {row.subject for row in rows}
