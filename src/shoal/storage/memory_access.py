"""``InMemoryKeyStore`` and ``InMemoryPlanStore``: small, real, thread-safe access stores.

They behave like the SQL stores (same errors, ordering and pagination; the contract suite in
``tests/integration/access`` runs over both) with everything in dictionaries behind a lock.
Key and plan changes append to an ``InMemoryAccessAuditLog``, which the two stores may share.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime

from shoal.access.records import (
    AccessAction,
    AccessEvent,
    AccessEventQuery,
    ApiKey,
    StoredKey,
    UsagePlan,
    key_detail,
    key_subject,
    plan_detail,
    plan_tenant,
)
from shoal.access.store import (
    TenantDirectory,
    key_after,
    key_exists,
    key_missing,
    key_order,
    key_revoked,
    plan_missing,
)
from shoal.registry.records import JsonScalar, Page, PageRequest
from shoal.storage import registry_rules as rules


class InMemoryAccessAuditLog:
    """An ``AccessAuditLog`` in memory: events numbered from 1, listed newest first."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._events: list[AccessEvent] = []

    def append(
        self,
        action: AccessAction,
        subject: str,
        tenant: str | None,
        actor: str,
        at: datetime,
        detail: Mapping[str, JsonScalar],
    ) -> AccessEvent:
        with self._lock:
            event = AccessEvent(
                len(self._events) + 1, at, actor, action, subject, tenant, dict(detail)
            )
            self._events.append(event)
        return event

    def list_access_events(self, query: AccessEventQuery, page: PageRequest) -> Page[AccessEvent]:
        after = rules.page_key(page, int)
        with self._lock:
            events = [
                event
                for event in reversed(self._events)
                if (after is None or event.id < int(after[0]))
                and (query.subject is None or event.subject == query.subject)
                and (query.tenant is None or event.tenant == query.tenant)
            ]
        return rules.page_of(events[: page.limit + 1], page.limit, lambda event: (event.id,))

    def newest_event_id(self) -> int:
        with self._lock:
            return len(self._events)

    def changes_since(self, after_id: int) -> tuple[int, set[str]]:
        with self._lock:
            newer = self._events[after_id:]  # event ids are list positions + 1
            newest = len(self._events)
        return max(newest, after_id), {event.subject for event in newer}


class InMemoryKeyStore:
    """A ``KeyStore`` in memory; tenants are checked against ``tenants`` like a foreign key."""

    def __init__(
        self, tenants: TenantDirectory, audit: InMemoryAccessAuditLog | None = None
    ) -> None:
        self._tenants = tenants
        self.audit = audit or InMemoryAccessAuditLog()
        self._lock = threading.Lock()
        self._keys: dict[str, StoredKey] = {}

    def add_key(self, stored: StoredKey) -> ApiKey:
        key = replace(
            stored.key,
            created_at=rules.as_utc(stored.key.created_at, "created_at"),
            revoked_at=None,
            revoked_by=None,
        )
        if key.tenant is not None and self._tenants.find_tenant(key.tenant) is None:
            raise rules.tenant_missing(key.tenant)
        with self._lock:
            if key.id in self._keys:
                raise key_exists(key.id)
            self._keys[key.id] = StoredKey(key, stored.secret_hash)
            self.audit.append(
                AccessAction.KEY_CREATED,
                key_subject(key.id),
                key.tenant,
                key.created_by,
                key.created_at,
                key_detail(key),
            )
        return key

    def find_key(self, key_id: str) -> StoredKey | None:
        with self._lock:
            return self._keys.get(key_id)

    def list_keys(self, tenant: str | None, page: PageRequest) -> Page[ApiKey]:
        after = rules.page_key(page, str, str)
        start = None if after is None else key_after(after)
        if tenant is not None and self._tenants.find_tenant(tenant) is None:
            raise rules.tenant_missing(tenant)
        with self._lock:
            keys = [
                stored.key
                for stored in self._keys.values()
                if (tenant is None or stored.key.tenant == tenant)
                and (start is None or (stored.key.created_at, stored.key.id) > start)
            ]
        keys.sort(key=lambda key: (key.created_at, key.id))
        return rules.page_of(keys[: page.limit + 1], page.limit, key_order)

    def revoke_key(self, key_id: str, actor: str, at: datetime) -> ApiKey:
        at = rules.as_utc(at)
        with self._lock:
            stored = self._keys.get(key_id)
            if stored is None:
                raise key_missing(key_id)
            if stored.key.revoked_at is not None:
                raise key_revoked(stored.key)
            key = replace(stored.key, revoked_at=at, revoked_by=actor)
            self._keys[key_id] = StoredKey(key, stored.secret_hash)
            self.audit.append(
                AccessAction.KEY_REVOKED,
                key_subject(key_id),
                key.tenant,
                actor,
                at,
                key_detail(key),
            )
            return key


class InMemoryPlanStore:
    """A ``PlanStore`` in memory."""

    def __init__(self, audit: InMemoryAccessAuditLog | None = None) -> None:
        self.audit = audit or InMemoryAccessAuditLog()
        self._lock = threading.Lock()
        self._plans: dict[str, UsagePlan] = {}

    def set_plan(self, plan: UsagePlan, actor: str, at: datetime) -> UsagePlan:
        saved = replace(plan, updated_at=rules.as_utc(at), updated_by=actor)
        with self._lock:
            self._plans[plan.subject] = saved
            self.audit.append(
                AccessAction.PLAN_SET,
                plan.subject,
                plan_tenant(plan.subject),
                actor,
                rules.as_utc(at),
                plan_detail(plan),
            )
        return saved

    def find_plan(self, subject: str) -> UsagePlan | None:
        with self._lock:
            return self._plans.get(subject)

    def remove_plan(
        self, subject: str, actor: str | None = None, at: datetime | None = None
    ) -> UsagePlan:
        when = rules.as_utc(at or datetime.now(UTC))
        with self._lock:
            plan = self._plans.pop(subject, None)
            if plan is None:
                raise plan_missing(subject)
            self.audit.append(
                AccessAction.PLAN_REMOVED,
                subject,
                plan_tenant(subject),
                actor or "unknown",
                when,
                plan_detail(plan),
            )
        return plan

    def list_plans(self, page: PageRequest) -> Page[UsagePlan]:
        after = rules.page_key(page, str)
        with self._lock:
            subjects = sorted(s for s in self._plans if after is None or (s,) > after)
            items = [self._plans[s] for s in subjects[: page.limit + 1]]
        return rules.page_of(items, page.limit, lambda plan: (plan.subject,))
