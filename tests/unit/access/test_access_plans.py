"""Usage plans: which plan limits a principal, admitting requests, 429 errors, usage, caching."""

from __future__ import annotations

from dataclasses import replace

import pytest
from access_fakes import START, FakeClock, FakeTimer

from shoal.access.keys import KeyService
from shoal.access.limiter import PythonRateLimiter
from shoal.access.plans import PlanService
from shoal.access.records import (
    UNLIMITED,
    LimitReason,
    Principal,
    Scope,
    UsagePlan,
    Window,
    key_subject,
)
from shoal.access.service import AccessService
from shoal.errors import AuthenticationError, NotFoundError, RateLimitedError, ValidationError
from shoal.storage.memory_access import InMemoryKeyStore, InMemoryPlanStore
from shoal.storage.memory_registry import InMemoryRegistryStore

DEFAULT = UsagePlan("default", rate_per_s=1.0, burst=2, quota_per_day=100)


class Setup:
    def __init__(self, default: UsagePlan | None = None) -> None:
        self.registry = InMemoryRegistryStore()
        for tenant in ("acme", "globex"):
            self.registry.add_tenant(tenant, "", "admin", START)
        self.key_store = InMemoryKeyStore(self.registry)
        self.plan_store = InMemoryPlanStore()
        self.clock = FakeClock()
        self.timer = FakeTimer()
        self.keys = KeyService(self.key_store, self.registry, clock=self.clock, timer=self.timer)
        self.plans = PlanService(
            self.plan_store,
            PythonRateLimiter(),
            self.registry,
            self.key_store,
            default_plan=default,
            clock=self.clock,
            timer=self.timer,
        )

    def principal(self, tenant: str | None) -> tuple[Principal, str]:
        scope = Scope.ADMIN if tenant is None else Scope.TENANT
        _, token = self.keys.create(scope, tenant, "k", actor="alice")
        return self.keys.authenticate(token), token


def test_a_keys_own_plan_wins_over_its_tenants_and_the_default() -> None:
    setup = Setup(DEFAULT)
    acme, _ = setup.principal("acme")
    other, _ = setup.principal("acme")
    assert setup.plans.plan_for(acme) == replace(DEFAULT, subject="acme")
    tenant_plan = setup.plans.set_plan(UsagePlan("acme", 5.0, 10), actor="ops")
    key_plan = setup.plans.set_plan(UsagePlan(key_subject(acme.key_id), 50.0, 100), actor="ops")
    assert setup.plans.plan_for(acme) == key_plan
    assert setup.plans.plan_for(other) == tenant_plan
    assert (tenant_plan.updated_by, tenant_plan.updated_at) == ("ops", START)


def test_admin_keys_without_a_plan_are_not_limited() -> None:
    setup = Setup(DEFAULT)
    admin, _ = setup.principal(None)
    assert setup.plans.plan_for(admin) is None
    assert all(setup.plans.acquire(admin) == UNLIMITED for _ in range(10))


def test_over_the_limit_raises_rate_limited_with_retry_after() -> None:
    setup = Setup()
    acme, _ = setup.principal("acme")
    setup.plans.set_plan(UsagePlan("acme", rate_per_s=4.0, burst=2), actor="ops")
    assert setup.plans.admit(acme).remaining_tokens == 1
    assert setup.plans.admit(acme).remaining_tokens == 0
    with pytest.raises(RateLimitedError, match="'acme' is over its rate limit") as raised:
        setup.plans.admit(acme)
    assert raised.value.retry_after_s == pytest.approx(0.25)
    assert (raised.value.reason, raised.value.subject) == (LimitReason.RATE, "acme")
    setup.clock.advance(0.25)
    assert setup.plans.admit(acme).allowed


def test_the_keys_of_one_tenant_share_its_bucket_and_quota() -> None:
    setup = Setup()
    first, _ = setup.principal("acme")
    second, _ = setup.principal("acme")
    setup.plans.set_plan(UsagePlan("acme", 1000.0, 1000, quota_per_day=3), actor="ops")
    results = [setup.plans.acquire(p).allowed for p in (first, second, first, second)]
    assert results == [True, True, True, False]
    (day, month) = setup.plans.usage("acme")
    assert (day.window, day.used, day.limit, day.ratio) == (Window.DAY, 3, 3, 1.0)
    assert (month.used, month.limit, month.ratio) == (3, None, None)


def test_a_plan_change_is_seen_within_the_cache_ttl() -> None:
    setup = Setup()
    acme, _ = setup.principal("acme")
    assert setup.plans.plan_for(acme) is None
    other_worker = PlanService(
        setup.plan_store,
        PythonRateLimiter(),
        setup.registry,
        setup.key_store,
        clock=setup.clock,
        timer=setup.timer,
    )
    assert other_worker.plan_for(acme) is None
    plan = setup.plans.set_plan(UsagePlan("acme", 1.0, 1), actor="ops")
    assert setup.plans.plan_for(acme) == plan
    assert other_worker.plan_for(acme) is None
    setup.timer.advance(2.01)
    assert other_worker.plan_for(acme) == plan


def test_plans_need_an_existing_tenant_or_key() -> None:
    setup = Setup()
    with pytest.raises(NotFoundError, match="tenant 'nobody' does not exist"):
        setup.plans.set_plan(UsagePlan("nobody", 1.0, 1), actor="ops")
    with pytest.raises(NotFoundError, match="API key '0123456789abcdef' does not exist"):
        setup.plans.set_plan(UsagePlan("key:0123456789abcdef", 1.0, 1), actor="ops")
    with pytest.raises(ValidationError, match="neither a tenant name nor 'key:<key id>'"):
        setup.plans.set_plan(UsagePlan("Acme Corp", 1.0, 1), actor="ops")
    with pytest.raises(NotFoundError, match="no usage plan for 'acme'"):
        setup.plans.get_plan("acme")
    with pytest.raises(NotFoundError, match="no usage plan for 'acme'"):
        setup.plans.remove_plan("acme", actor="ops")


def test_removing_a_plan_lifts_its_limits() -> None:
    setup = Setup()
    acme, _ = setup.principal("acme")
    setup.plans.set_plan(UsagePlan("acme", 1.0, 1, quota_per_day=0), actor="ops")
    assert not setup.plans.acquire(acme).allowed
    assert setup.plans.remove_plan("acme", actor="ops").quota_per_day == 0
    assert setup.plans.acquire(acme) == UNLIMITED
    assert [p.subject for p in setup.plans.list_plans().items] == []


def test_admission_authenticates_then_applies_the_plan() -> None:
    setup = Setup(UsagePlan("default", rate_per_s=1.0, burst=1))
    access = AccessService(setup.keys, setup.plans)
    acme, token = setup.principal("acme")
    admitted = access.admit(token)
    assert admitted.principal == acme
    assert admitted.decision.allowed
    with pytest.raises(RateLimitedError) as raised:
        access.admit(token)
    assert raised.value.retry_after_s == pytest.approx(1.0)


def test_a_tokens_grant_is_kept_until_its_key_or_any_plan_changes() -> None:
    setup = Setup()
    access = AccessService(setup.keys, setup.plans)
    acme, token = setup.principal("acme")
    first = access.grant(token)
    assert (first.principal, first.plan) == (acme, None)
    assert access.grant(token) is first  # kept: no parsing, hashing or plan lookup
    plan = setup.plans.set_plan(UsagePlan("acme", rate_per_s=1.0, burst=1), actor="ops")
    assert access.grant(token).plan == plan  # a plan changed: granted anew
    setup.keys.revoke(acme.key_id, actor="ops")
    with pytest.raises(AuthenticationError, match="revoked"):
        access.grant(token)
    setup.timer.advance(3600)  # nothing kept outlives the key cache's TTL either
    _, other = setup.principal("acme")
    kept = access.grant(other)
    setup.timer.advance(3600)
    assert access.grant(other) is not kept


def test_a_raw_authorization_header_is_granted_like_its_key_and_kept_by_its_bytes() -> None:
    setup = Setup()
    access = AccessService(setup.keys, setup.plans)
    acme, token = setup.principal("acme")
    header = f"Bearer {token}".encode("latin-1")
    first = access.grant(header)
    assert first.principal == acme
    assert access.grant(header) is first  # kept by the header's bytes: no decoding or parsing
    assert access.grant(f"bearer   {token} ".encode("latin-1")).principal == acme
    for malformed in (b"Basic " + token.encode(), b"Bearer ", token.encode()):
        with pytest.raises(AuthenticationError, match="Bearer <API key>"):
            access.grant(malformed)
    setup.keys.revoke(acme.key_id, actor="ops")
    with pytest.raises(AuthenticationError, match="revoked"):
        access.grant(header)  # a kept header is checked against key changes like a key
