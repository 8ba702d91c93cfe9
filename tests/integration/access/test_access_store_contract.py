"""One contract for every KeyStore and PlanStore: in-memory, SQLite and PostgreSQL agree."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest
from access_stores import AT, AccessStores

from shoal.access.keys import hash_secret, key_prefix, new_token
from shoal.access.records import ApiKey, Scope, StoredKey, UsagePlan
from shoal.errors import ConflictError, NotFoundError, ValidationError
from shoal.registry.pages import encode_cursor
from shoal.registry.records import PageRequest


def stored_key(
    tenant: str | None = "acme", at: datetime = AT, name: str = "ci", key_id: str | None = None
) -> StoredKey:
    new_id, secret, _ = new_token()
    key_id = key_id or new_id
    key = ApiKey(
        id=key_id,
        name=name,
        scope=Scope.ADMIN if tenant is None else Scope.TENANT,
        tenant=tenant,
        prefix=key_prefix(key_id, secret),
        created_at=at,
        created_by="alice",
    )
    return StoredKey(key, hash_secret(secret))


def test_a_key_round_trips_with_its_hash_and_exact_timestamps(stores: AccessStores) -> None:
    plus_two = timezone(timedelta(hours=2))
    tenant_key = stored_key(at=AT.astimezone(plus_two))
    admin_key = stored_key(tenant=None)
    for stored in (tenant_key, admin_key):
        added = stores.keys.add_key(stored)
        assert added == replace(stored.key, created_at=AT)
        assert added.created_at.tzinfo == UTC
        assert stores.keys.find_key(stored.key.id) == StoredKey(added, stored.secret_hash)
    assert stores.keys.find_key("0123456789abcdef") is None


def test_a_key_needs_an_existing_tenant_and_a_free_id(stores: AccessStores) -> None:
    with pytest.raises(NotFoundError, match="tenant 'ghost' does not exist"):
        stores.keys.add_key(stored_key(tenant="ghost"))
    first = stored_key()
    stores.keys.add_key(first)
    with pytest.raises(ConflictError, match=f"API key '{first.key.id}' already exists"):
        stores.keys.add_key(stored_key(key_id=first.key.id))
    assert stores.keys.find_key(first.key.id) == first


def test_keys_are_listed_oldest_first_across_pages_per_tenant_or_all(
    stores: AccessStores,
) -> None:
    tenants = ["acme", "globex", None, "acme", "acme", "globex", "acme"]
    added = []
    for i, tenant in enumerate(tenants):
        # Two keys share each second, so the id breaks ties.
        added.append(stores.keys.add_key(stored_key(tenant, AT + timedelta(seconds=i // 2))))
    expected = sorted(added, key=lambda key: (key.created_at, key.id))

    def walk(tenant: str | None) -> list[ApiKey]:
        seen: list[ApiKey] = []
        cursor = None
        while True:
            page = stores.keys.list_keys(tenant, PageRequest(limit=2, cursor=cursor))
            seen.extend(page.items)
            cursor = page.next_cursor
            if cursor is None:
                return seen

    assert walk(None) == expected
    assert walk("acme") == [key for key in expected if key.tenant == "acme"]
    with pytest.raises(NotFoundError, match="tenant 'ghost' does not exist"):
        stores.keys.list_keys("ghost", PageRequest())
    for cursor in (encode_cursor("acme"), encode_cursor("not a time", "x")):
        with pytest.raises(ValidationError, match="cursor"):
            stores.keys.list_keys(None, PageRequest(cursor=cursor))


def test_a_key_is_revoked_once_and_keeps_who_did_it(stores: AccessStores) -> None:
    stored = stored_key()
    stores.keys.add_key(stored)
    later = AT + timedelta(days=3)
    revoked = stores.keys.revoke_key(stored.key.id, "bob", later)
    assert (revoked.revoked_at, revoked.revoked_by, revoked.active) == (later, "bob", False)
    assert stores.keys.find_key(stored.key.id) == StoredKey(revoked, stored.secret_hash)
    again = r"already revoked at 2025-03-04T12:30:15\.123456\+00:00 by bob"
    with pytest.raises(ConflictError, match=again):
        stores.keys.revoke_key(stored.key.id, "carol", later + timedelta(hours=1))
    with pytest.raises(NotFoundError, match="API key '0123456789abcdef' does not exist"):
        stores.keys.revoke_key("0123456789abcdef", "bob", later)
    assert stores.keys.list_keys(None, PageRequest()).items == (revoked,)


def test_a_plan_is_set_replaced_and_removed(stores: AccessStores) -> None:
    plan = UsagePlan("acme", rate_per_s=0.1, burst=3, quota_per_day=1000, quota_per_month=None)
    saved = stores.plans.set_plan(plan, "ops", AT)
    assert saved == replace(plan, updated_at=AT, updated_by="ops")
    assert stores.plans.find_plan("acme") == saved
    later = AT + timedelta(hours=1)
    changed = replace(plan, rate_per_s=2.5, quota_per_day=None, quota_per_month=5_000_000_000)
    assert stores.plans.set_plan(changed, "bob", later) == replace(
        changed, updated_at=later, updated_by="bob"
    )
    assert stores.plans.find_plan("acme") == replace(changed, updated_at=later, updated_by="bob")
    assert stores.plans.remove_plan("acme").updated_by == "bob"
    assert stores.plans.find_plan("acme") is None
    with pytest.raises(NotFoundError, match="no usage plan for 'acme'"):
        stores.plans.remove_plan("acme")


def test_plans_are_listed_by_subject_across_pages(stores: AccessStores) -> None:
    subjects = ["globex", "key:0123456789abcdef", "acme", "key:00aa"]
    for subject in subjects:
        stores.plans.set_plan(UsagePlan(subject, 1.0, 1), "ops", AT)
    first = stores.plans.list_plans(PageRequest(limit=3))
    second = stores.plans.list_plans(PageRequest(limit=3, cursor=first.next_cursor))
    assert [plan.subject for plan in first.items + second.items] == sorted(subjects)
    assert second.next_cursor is None
