"""``InMemoryKeyStore`` and ``InMemoryPlanStore``: small, real, thread-safe access stores.

They behave like the SQL stores (same errors, ordering and pagination; the contract suite in
``tests/integration/access`` runs over both) with everything in dictionaries behind a lock.
"""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import datetime

from shoal.access.records import ApiKey, StoredKey, UsagePlan
from shoal.access.store import (
    TenantDirectory,
    key_after,
    key_exists,
    key_missing,
    key_order,
    key_revoked,
    plan_missing,
)
from shoal.registry.records import Page, PageRequest
from shoal.storage import registry_rules as rules


class InMemoryKeyStore:
    """A ``KeyStore`` in memory; tenants are checked against ``tenants`` like a foreign key."""

    def __init__(self, tenants: TenantDirectory) -> None:
        self._tenants = tenants
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
            return key


class InMemoryPlanStore:
    """A ``PlanStore`` in memory."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._plans: dict[str, UsagePlan] = {}

    def set_plan(self, plan: UsagePlan, actor: str, at: datetime) -> UsagePlan:
        saved = replace(plan, updated_at=rules.as_utc(at), updated_by=actor)
        with self._lock:
            self._plans[plan.subject] = saved
        return saved

    def find_plan(self, subject: str) -> UsagePlan | None:
        with self._lock:
            return self._plans.get(subject)

    def remove_plan(self, subject: str) -> UsagePlan:
        with self._lock:
            plan = self._plans.pop(subject, None)
        if plan is None:
            raise plan_missing(subject)
        return plan

    def list_plans(self, page: PageRequest) -> Page[UsagePlan]:
        after = rules.page_key(page, str)
        with self._lock:
            subjects = sorted(s for s in self._plans if after is None or (s,) > after)
            items = [self._plans[s] for s in subjects[: page.limit + 1]]
        return rules.page_of(items, page.limit, lambda plan: (plan.subject,))
