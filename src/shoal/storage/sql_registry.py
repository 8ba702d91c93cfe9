"""``SqlRegistryStore``: the registry's metadata in SQLite or PostgreSQL, via SQLAlchemy Core.

Every method is one transaction. Writes lock the model row first (``FOR UPDATE`` on
PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite), so concurrent processes see a consistent order of
version numbers, alias moves and deletions. Version numbers come from the model row's
``latest_version`` counter, which only grows, so a deleted version's number is never reused.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from shoal.registry.records import (
    ApprovalStatus,
    AuditAction,
    AuditEvent,
    AuditQuery,
    ModelQuery,
    ModelVersion,
    Page,
    PageRequest,
    RegisteredModel,
    Tenant,
    VersionDraft,
)
from shoal.storage import registry_rules as rules
from shoal.storage import sql_rows as rows
from shoal.storage.engine import create_engine
from shoal.storage.migrate import upgrade
from shoal.storage.sql_queries import RegistryQueries
from shoal.storage.sql_store import SqlStore
from shoal.storage.tables import aliases, audit_events, model_versions, models, tenants


class SqlRegistryStore(SqlStore):
    """A ``RegistryStore`` over a migrated database (see ``shoal.storage.migrate.upgrade``)."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        self._q = RegistryQueries()

    @classmethod
    def from_url(cls, url: str) -> SqlRegistryStore:
        """Open (and migrate, if it is behind) the database at ``url``."""
        engine = create_engine(url)
        upgrade(engine)
        return cls(engine)

    def _audit(self, conn: Connection, values: dict[str, Any]) -> AuditEvent:
        event_id = conn.execute(self._q.insert_audit, values).scalar_one()
        return rows.audit_record(event_id, values)

    def _model_id(self, conn: Connection, tenant: str, model: str, *, lock: bool = False) -> int:
        query = self._q.lock_model if lock else self._q.model_id
        model_id = conn.execute(query, {"tenant": tenant, "model": model}).scalar()
        if model_id is None:
            if conn.execute(self._q.tenant_id, {"tenant": tenant}).scalar() is None:
                raise rules.tenant_missing(tenant)
            raise rules.model_missing(tenant, model)
        return int(model_id)

    def add_tenant(self, name: str, description: str, actor: str, at: datetime) -> Tenant:
        at = rules.as_utc(at)
        values = {"name": name, "description": description, "created_at": at, "created_by": actor}
        with self._write() as conn:
            try:
                conn.execute(sa.insert(tenants), values)
            except IntegrityError as exc:
                raise rules.tenant_exists(name) from exc
            self._audit(conn, rows.audit_values(at, actor, AuditAction.TENANT_CREATED, name))
        return Tenant(name, description, at, actor)

    def find_tenant(self, name: str) -> Tenant | None:
        with self._read() as conn:
            row = conn.execute(self._q.tenant, {"tenant": name}).first()
        return None if row is None else rows.tenant_record(row)

    def list_tenants(self, page: PageRequest) -> Page[Tenant]:
        after = rules.page_key(page, str)
        query = sa.select(*rows.TENANT_COLUMNS).order_by(tenants.c.name).limit(page.limit + 1)
        if after is not None:
            query = query.where(tenants.c.name > after[0])
        with self._read() as conn:
            found = [rows.tenant_record(row) for row in conn.execute(query)]
        return rules.page_of(found, page.limit, lambda tenant: (tenant.name,))

    def add_versions(self, drafts: Sequence[VersionDraft]) -> list[ModelVersion]:
        if not drafts:
            return []
        created = [rules.as_utc(draft.created_at, "created_at") for draft in drafts]
        counts: dict[tuple[str, str], int] = {}
        for draft in drafts:
            counts[(draft.tenant, draft.model)] = counts.get((draft.tenant, draft.model), 0) + 1
        with self._write() as conn:
            tenant_names = sorted({draft.tenant for draft in drafts})
            tenant_ids = {
                row.name: row.id
                for row in conn.execute(self._q.tenant_ids, {"names": tenant_names})
            }
            for name in tenant_names:
                if name not in tenant_ids:
                    raise rules.tenant_missing(name)
            first_at: dict[tuple[str, str], datetime] = {}
            for draft, at in zip(drafts, created, strict=True):
                first_at.setdefault((draft.tenant, draft.model), at)
            next_number: dict[tuple[str, str], tuple[int, int]] = {}
            # Sorted, so two batches touching the same models lock them in the same order.
            for key in sorted(counts):
                model_id, latest = self._allocate(
                    conn, tenant_ids[key[0]], key[1], counts[key], first_at[key]
                )
                next_number[key] = (model_id, latest - counts[key] + 1)
            version_rows: list[dict[str, Any]] = []
            audit_rows: list[dict[str, Any]] = []
            added: list[ModelVersion] = []
            for draft, at in zip(drafts, created, strict=True):
                key = (draft.tenant, draft.model)
                model_id, number = next_number[key]
                next_number[key] = (model_id, number + 1)
                version_rows.append(rows.version_values(model_id, number, draft, at))
                audit_rows.append(
                    rows.audit_values(
                        at,
                        draft.created_by,
                        AuditAction.VERSION_REGISTERED,
                        draft.tenant,
                        draft.model,
                        number,
                    )
                )
                added.append(draft.numbered(number, at))
            conn.execute(sa.insert(model_versions), version_rows)
            conn.execute(sa.insert(audit_events), audit_rows)
        return added

    def _allocate(
        self, conn: Connection, tenant_id: int, model: str, count: int, at: datetime
    ) -> tuple[int, int]:
        """Reserve ``count`` version numbers; returns (model id, the last number reserved)."""
        bump = {"tid": tenant_id, "model": model, "count": count}
        row = conn.execute(self._q.bump_latest, bump).first()
        if row is not None:
            return int(row.id), int(row.latest_version)
        values = {"tenant_id": tenant_id, "name": model, "created_at": at, "latest_version": count}
        try:
            # A savepoint, because losing the race to create the model aborts the statement
            # (and on PostgreSQL the whole transaction) but not the work done so far.
            with conn.begin_nested():
                model_id = conn.execute(self._q.insert_model, values).scalar_one()
            return int(model_id), count
        except IntegrityError:
            row = conn.execute(self._q.bump_latest, bump).one()
            return int(row.id), int(row.latest_version)

    def find_model(self, tenant: str, model: str) -> RegisteredModel | None:
        with self._read() as conn:
            row = conn.execute(self._q.model, {"tenant": tenant, "model": model}).first()
            if row is None:
                return None
            pointing = {
                alias.alias: alias.version
                for alias in conn.execute(self._q.model_aliases, {"mid": row.id})
            }
            return RegisteredModel(
                tenant, model, row.created_at, row.latest_version, dict(sorted(pointing.items()))
            )

    def list_models(self, query: ModelQuery, page: PageRequest) -> Page[RegisteredModel]:
        after = rules.page_key(page, str, str)
        with self._read() as conn:
            tenant_id: int | None = None
            if query.tenant is not None:
                tenant_id = conn.execute(self._q.tenant_id, {"tenant": query.tenant}).scalar()
                if tenant_id is None:
                    raise rules.tenant_missing(query.tenant)
            select = self._q.models_page(query, tenant_id, after, page.limit + 1)
            found = conn.execute(select).all() if select is not None else []
            pointing: dict[int, dict[str, int]] = {}
            if found:
                ids = [row.id for row in found[: page.limit]]
                for row in conn.execute(self._q.aliases_of_models, {"ids": ids}):
                    pointing.setdefault(row.model_id, {})[row.alias] = row.version
        items = [
            RegisteredModel(
                row.tenant, row.name, row.created_at, row.latest_version, pointing.get(row.id, {})
            )
            for row in found
        ]
        return rules.page_of(items, page.limit, lambda model: (model.tenant, model.name))

    def find_version(self, tenant: str, model: str, version: int) -> ModelVersion | None:
        params = {"tenant": tenant, "model": model, "ver": version}
        with self._read() as conn:
            found = rows.versions_with_aliases(tenant, model, conn.execute(self._q.version, params))
        return found[0] if found else None

    def find_aliased(self, tenant: str, model: str, alias: str) -> ModelVersion | None:
        params = {"tenant": tenant, "model": model, "al": alias}
        with self._read() as conn:
            found = rows.versions_with_aliases(tenant, model, conn.execute(self._q.aliased, params))
        return found[0] if found else None

    def find_latest(
        self, tenant: str, model: str, approval: ApprovalStatus | None = None
    ) -> ModelVersion | None:
        params = {"tenant": tenant, "model": model}
        query = self._q.latest
        if approval is not None:
            query = self._q.latest_with_approval
            params["approval"] = ApprovalStatus(approval).value
        with self._read() as conn:
            found = rows.versions_with_aliases(tenant, model, conn.execute(query, params))
        return found[0] if found else None

    def default_versions(
        self, alias: str, after: tuple[str, str] | None, limit: int
    ) -> tuple[list[ModelVersion], tuple[str, str] | None]:
        # Four queries for a whole page of models, however many: the page, the alias, the
        # latest approved and pending numbers, then the chosen versions and their aliases.
        page = (
            sa.select(models.c.id, tenants.c.name.label("tenant"), models.c.name.label("model"))
            .select_from(models.join(tenants, models.c.tenant_id == tenants.c.id))
            .order_by(tenants.c.name, models.c.name)
            .limit(limit)
        )
        if after is not None:
            page = page.where(
                sa.or_(
                    tenants.c.name > after[0],
                    sa.and_(tenants.c.name == after[0], models.c.name > after[1]),
                )
            )
        versions = model_versions
        with self._read() as conn:
            found = conn.execute(page).all()
            ids = [row.id for row in found]
            if not ids:
                return [], None
            aliased = dict(
                conn.execute(
                    sa.select(aliases.c.model_id, aliases.c.version).where(
                        aliases.c.alias == alias, aliases.c.model_id.in_(ids)
                    )
                ).all()
            )
            newest = {
                (row.model_id, row.approval): row.newest
                for row in conn.execute(
                    sa.select(
                        versions.c.model_id,
                        versions.c.approval,
                        sa.func.max(versions.c.version).label("newest"),
                    )
                    .where(
                        versions.c.model_id.in_(ids),
                        versions.c.approval.in_(
                            [ApprovalStatus.APPROVED.value, ApprovalStatus.PENDING.value]
                        ),
                    )
                    .group_by(versions.c.model_id, versions.c.approval)
                )
            }
            chosen = {
                mid: number
                for mid in ids
                if (
                    number := rules.default_number(
                        aliased.get(mid),
                        newest.get((mid, ApprovalStatus.APPROVED.value)),
                        newest.get((mid, ApprovalStatus.PENDING.value)),
                    )
                )
                is not None
            }
            candidates = conn.execute(
                sa.select(versions.c.model_id, *rows.VERSION_COLUMNS).where(
                    versions.c.model_id.in_(list(chosen)),
                    versions.c.version.in_(sorted(set(chosen.values()))),
                )
            ).all()
            pointing: dict[tuple[int, int], list[str]] = {}
            for row in conn.execute(self._q.aliases_of_models, {"ids": list(chosen)}):
                pointing.setdefault((row.model_id, row.version), []).append(row.alias)
        names = {row.id: (row.tenant, row.model) for row in found}
        by_model = {
            row.model_id: rows.version_record(
                *names[row.model_id], row, pointing.get((row.model_id, row.version), ())
            )
            for row in candidates
            if chosen.get(row.model_id) == row.version
        }
        last = (found[-1].tenant, found[-1].model) if len(found) == limit else None
        return [by_model[mid] for mid in ids if mid in by_model], last

    def list_versions(self, tenant: str, model: str, page: PageRequest) -> Page[ModelVersion]:
        after = rules.page_key(page, int)
        with self._read() as conn:
            model_id = self._model_id(conn, tenant, model)
            query = self._q.versions_page(model_id, None if after is None else int(after[0]))
            found = conn.execute(query.limit(page.limit + 1)).all()
            pointing = rows.aliases_by_version(
                conn.execute(self._q.aliases_of_models, {"ids": [model_id]})
            )
        items = [rows.version_record(tenant, model, r, pointing.get(r.version, ())) for r in found]
        return rules.page_of(items, page.limit, lambda version: (version.version,))

    def set_alias(
        self,
        tenant: str,
        model: str,
        alias: str,
        version: int,
        actor: str,
        at: datetime,
        action: AuditAction = AuditAction.ALIAS_SET,
    ) -> AuditEvent:
        rules.check_alias_action(action)
        at = rules.as_utc(at)
        with self._write() as conn:
            model_id = self._model_id(conn, tenant, model, lock=True)
            key = {"mid": model_id, "ver": version, "al": alias}
            if conn.execute(self._q.version_exists, key).first() is None:
                raise rules.version_missing(tenant, model, version)
            previous = conn.execute(self._q.alias_target, key).scalar()
            conn.execute(self._q.insert_alias if previous is None else self._q.move_alias, key)
            return self._audit(
                conn, rows.audit_values(at, actor, action, tenant, model, version, alias, previous)
            )

    def remove_alias(
        self, tenant: str, model: str, alias: str, actor: str, at: datetime
    ) -> AuditEvent:
        at = rules.as_utc(at)
        with self._write() as conn:
            model_id = self._model_id(conn, tenant, model, lock=True)
            key = {"mid": model_id, "al": alias}
            previous = conn.execute(self._q.alias_target, key).scalar()
            if previous is None:
                raise rules.alias_missing(tenant, model, alias)
            conn.execute(self._q.delete_alias, key)
            values = rows.audit_values(
                at, actor, AuditAction.ALIAS_REMOVED, tenant, model, None, alias, previous
            )
            return self._audit(conn, values)

    def set_approval(
        self,
        tenant: str,
        model: str,
        version: int,
        status: ApprovalStatus,
        actor: str,
        at: datetime,
        comment: str = "",
    ) -> ModelVersion:
        at = rules.as_utc(at)
        with self._write() as conn:
            model_id = self._model_id(conn, tenant, model, lock=True)
            key = {"mid": model_id, "ver": version}
            approval = ApprovalStatus(status).value
            if conn.execute(self._q.set_approval, {**key, "appr": approval}).rowcount == 0:
                raise rules.version_missing(tenant, model, version)
            self._audit(
                conn,
                rows.audit_values(
                    at, actor, AuditAction.APPROVAL_SET, tenant, model, version, comment=comment
                ),
            )
            params = {"tenant": tenant, "model": model, "ver": version}
            return rows.versions_with_aliases(tenant, model, conn.execute(self._q.version, params))[
                0
            ]

    def remove_version(
        self, tenant: str, model: str, version: int, actor: str, at: datetime
    ) -> ModelVersion:
        at = rules.as_utc(at)
        with self._write() as conn:
            model_id = self._model_id(conn, tenant, model, lock=True)
            params = {"tenant": tenant, "model": model, "ver": version}
            found = rows.versions_with_aliases(tenant, model, conn.execute(self._q.version, params))
            if not found:
                raise rules.version_missing(tenant, model, version)
            if found[0].aliases:
                raise rules.version_aliased(tenant, model, version, list(found[0].aliases))
            conn.execute(self._q.delete_version, {"mid": model_id, "ver": version})
            values = rows.audit_values(
                at, actor, AuditAction.VERSION_DELETED, tenant, model, version
            )
            self._audit(conn, values)
            return found[0]

    def remove_model(self, tenant: str, model: str, actor: str, at: datetime) -> list[ModelVersion]:
        at = rules.as_utc(at)
        with self._write() as conn:
            model_id = self._model_id(conn, tenant, model, lock=True)
            pointing = rows.aliases_by_version(
                conn.execute(self._q.aliases_of_models, {"ids": [model_id]})
            )
            found = conn.execute(self._q.all_versions, {"mid": model_id})
            removed = [
                rows.version_record(tenant, model, r, pointing.get(r.version, ())) for r in found
            ]
            key = {"mid": model_id}
            for statement in self._q.delete_model:
                conn.execute(statement, key)
            self._audit(
                conn, rows.audit_values(at, actor, AuditAction.MODEL_DELETED, tenant, model)
            )
            return removed

    def list_audit(self, query: AuditQuery, page: PageRequest) -> Page[AuditEvent]:
        after = rules.page_key(page, int)
        select = self._q.audit_page(query, None if after is None else int(after[0]))
        with self._read() as conn:
            found = conn.execute(select.limit(page.limit + 1)).all()
        items = [rows.audit_record(row.id, row._mapping) for row in found]
        return rules.page_of(items, page.limit, lambda event: (event.id,))

    def count_artifact_refs(self, digest: str) -> int:
        with self._read() as conn:
            return int(conn.execute(self._q.count_refs, {"digest": digest}).scalar_one())

    def changes_since(self, after_id: int) -> tuple[int, set[tuple[str, str]]]:
        events = audit_events
        with self._read() as conn:
            if after_id < 0:
                newest = conn.execute(sa.select(sa.func.max(events.c.id))).scalar()
                return int(newest or 0), set()
            found = conn.execute(
                sa.select(events.c.id, events.c.tenant, events.c.model)
                .where(events.c.id > after_id)
                .order_by(events.c.id)
            ).all()
        changed = {(row.tenant, row.model) for row in found if row.model is not None}
        return (found[-1].id if found else after_id), changed
