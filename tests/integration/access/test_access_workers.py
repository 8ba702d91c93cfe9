"""Two workers over one real store: keys, revocations and plan changes reach both in time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from access_stores import AT, AccessStores

from shoal.access.keys import KeyService
from shoal.access.limiter import PythonRateLimiter
from shoal.access.plans import PlanService
from shoal.access.records import Scope, UsagePlan
from shoal.access.service import AccessService
from shoal.errors import AuthenticationError, RateLimitedError


class Timer:
    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


def worker(stores: AccessStores, timer: Timer, limiter: PythonRateLimiter) -> AccessService:
    def clock() -> datetime:
        return AT + timedelta(seconds=timer.now)

    keys = KeyService(stores.keys, stores.registry, clock=clock, timer=timer, ttl_s=2.0)
    plans = PlanService(
        stores.plans, limiter, stores.registry, stores.keys, clock=clock, timer=timer, ttl_s=2.0
    )
    return AccessService(keys, plans)


def test_a_key_made_by_one_worker_works_on_another_until_revoked(stores: AccessStores) -> None:
    timer, limiter = Timer(), PythonRateLimiter()
    one, two = worker(stores, timer, limiter), worker(stores, timer, limiter)
    key, token = one.keys.create(Scope.TENANT, "acme", "ci", actor="alice")
    assert two.admit(token).principal.tenant == "acme"
    one.keys.revoke(key.id, actor="bob")
    with pytest.raises(AuthenticationError, match="has been revoked"):
        one.admit(token)
    assert two.admit(token).principal.key_id == key.id  # within the TTL, from its cache
    timer.now += 2.0
    with pytest.raises(AuthenticationError, match="has been revoked"):
        two.admit(token)
    assert one.keys.get_key(key.id).revoked_by == "bob"


def test_a_plan_set_by_one_worker_limits_requests_on_another(stores: AccessStores) -> None:
    timer, limiter = Timer(), PythonRateLimiter()
    one, two = worker(stores, timer, limiter), worker(stores, timer, limiter)
    _, token = one.keys.create(Scope.TENANT, "acme", "ci", actor="alice")
    assert two.admit(token).decision.remaining_tokens is None  # no plan: unlimited
    one.plans.set_plan(UsagePlan("acme", rate_per_s=1.0, burst=1, quota_per_day=5), "ops")
    timer.now += 2.0
    assert two.admit(token).decision.remaining_tokens == 0
    with pytest.raises(RateLimitedError, match="over its rate limit") as raised:
        two.admit(token)
    assert raised.value.retry_after_s == pytest.approx(1.0)
    (day, month) = one.plans.usage("acme")
    assert (day.used, day.limit, day.ratio, month.limit) == (1, 5, 0.2, None)
    assert day.resets_at == datetime(2025, 3, 2, tzinfo=UTC)
