"""The access audit log: every key and plan change is kept, over the in-memory and SQL stores."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from access_fakes import FakeClock, FakeTimer

from shoal.access.changes import AccessChangeFeed
from shoal.access.keys import KeyService
from shoal.access.limiter import PythonRateLimiter
from shoal.access.plans import PlanService
from shoal.access.records import AccessAction, AccessEventQuery, Scope, UsagePlan
from shoal.access.service import AccessService
from shoal.access.store import AccessAuditLog, KeyStore, PlanStore, TenantDirectory
from shoal.errors import AuthenticationError, NotFoundError, RateLimitedError, ValidationError
from shoal.registry.records import PageRequest
from shoal.storage.engine import create_engine
from shoal.storage.memory_access import InMemoryAccessAuditLog, InMemoryKeyStore, InMemoryPlanStore
from shoal.storage.memory_registry import InMemoryRegistryStore
from shoal.storage.migrate import upgrade
from shoal.storage.sql_access import SqlAccessAuditLog, SqlKeyStore, SqlPlanStore
from shoal.storage.sql_registry import SqlRegistryStore

AT = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


@dataclass
class Setup:
    access: AccessService
    clock: FakeClock
    keys: KeyStore
    plans: PlanStore
    audit: AccessAuditLog
    registry: TenantDirectory


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def setup(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Setup]:
    """An access service over each store implementation, with tenants 'acme' and 'globex'."""
    with ExitStack() as stack:
        yield from _setup(request, tmp_path, stack)


def _setup(request: pytest.FixtureRequest, tmp_path: Path, stack: ExitStack) -> Iterator[Setup]:
    engine = None
    if request.param == "memory":
        registry = InMemoryRegistryStore()
        log = InMemoryAccessAuditLog()
        keys, plans, audit = InMemoryKeyStore(registry, log), InMemoryPlanStore(log), log
    else:
        if request.param == "sqlite":
            url = f"sqlite:///{tmp_path / 'audit.db'}"
        else:
            url = stack.enter_context(request.getfixturevalue("postgres_database")())
        engine = create_engine(url)
        upgrade(engine)
        registry = SqlRegistryStore(engine)
        keys, plans, audit = SqlKeyStore(engine), SqlPlanStore(engine), SqlAccessAuditLog(engine)
    for tenant in ("acme", "globex"):
        registry.add_tenant(tenant, "", "admin", AT)
    clock = FakeClock(AT)
    access = AccessService(
        KeyService(keys, registry, clock=clock),
        PlanService(plans, PythonRateLimiter(), registry, keys, clock=clock),
        audit,
    )
    yield Setup(access, clock, keys, plans, audit, registry)
    if engine is not None:
        engine.dispose()


def test_key_and_plan_changes_are_kept_newest_first_with_who_and_when(setup: Setup) -> None:
    access = setup.access
    key, _ = access.keys.create(Scope.TENANT, "acme", "ci", "alice")
    setup.clock.advance(60)
    access.plans.set_plan(UsagePlan("acme", 5.0, 10, quota_per_day=100), "bob")
    setup.clock.advance(60)
    access.keys.revoke(key.id, "carol")
    setup.clock.advance(60)
    access.plans.remove_plan("acme", "dave")
    events = access.history().items
    assert [(e.action, e.actor, e.subject, e.tenant) for e in events] == [
        (AccessAction.PLAN_REMOVED, "dave", "acme", "acme"),
        (AccessAction.KEY_REVOKED, "carol", f"key:{key.id}", "acme"),
        (AccessAction.PLAN_SET, "bob", "acme", "acme"),
        (AccessAction.KEY_CREATED, "alice", f"key:{key.id}", "acme"),
    ]
    assert [e.at for e in events] == [AT + timedelta(seconds=s) for s in (180, 120, 60, 0)]
    assert events[2].detail == {
        "rate_per_s": 5.0,
        "burst": 10,
        "quota_per_day": 100,
        "quota_per_month": None,
    }
    assert events[3].detail == {"name": "ci", "scope": "tenant", "prefix": key.prefix}
    assert "secret" not in str(events)


def test_the_log_filters_by_subject_and_tenant_and_pages_by_cursor(setup: Setup) -> None:
    access = setup.access
    admin, _ = access.keys.create(Scope.ADMIN, None, "ops", "alice")
    acme, _ = access.keys.create(Scope.TENANT, "acme", "ci", "alice")
    access.plans.set_plan(UsagePlan(f"key:{acme.id}", 1.0, 1), "alice")
    access.plans.set_plan(UsagePlan("globex", 1.0, 1), "alice")
    by_key = access.history(AccessEventQuery(subject=f"key:{acme.id}")).items
    assert [e.action for e in by_key] == [AccessAction.PLAN_SET, AccessAction.KEY_CREATED]
    assert [e.subject for e in access.history(AccessEventQuery(tenant="globex")).items] == [
        "globex"
    ]
    admin_events = access.history(AccessEventQuery(subject=f"key:{admin.id}")).items
    assert [(e.tenant, e.detail["scope"]) for e in admin_events] == [(None, "admin")]
    first = access.history(page=PageRequest(limit=3))
    rest = access.history(page=PageRequest(limit=3, cursor=first.next_cursor))
    assert [e.id for e in first.items + rest.items] == sorted(
        (e.id for e in access.history().items), reverse=True
    )
    assert rest.next_cursor is None
    with pytest.raises(ValidationError, match="does not belong to this listing"):
        access.history(page=PageRequest(cursor="WyJhIiwiYiJd"))


def test_failed_changes_leave_no_event(setup: Setup) -> None:
    access = setup.access
    with pytest.raises(NotFoundError):
        access.keys.create(Scope.TENANT, "ghost", "ci", "alice")
    with pytest.raises(NotFoundError):
        access.plans.remove_plan("acme", "bob")
    with pytest.raises(NotFoundError):
        access.keys.revoke("0123456789abcdef", "bob")
    assert access.history().items == ()


def test_a_worker_sees_other_workers_key_and_plan_changes_within_one_poll_interval(
    setup: Setup,
) -> None:
    # The worker caches keys and plans for five minutes; its change feed reads the audit log
    # once per 2 s interval and drops exactly what changed elsewhere.
    timer = FakeTimer()
    keys = KeyService(
        setup.keys, setup.registry, clock=setup.clock, timer=timer, ttl_s=300, negative_ttl_s=2
    )
    plans = PlanService(
        setup.plans,
        PythonRateLimiter(),
        setup.registry,
        setup.keys,
        clock=setup.clock,
        timer=timer,
        ttl_s=300,
    )
    worker = AccessService(
        keys, plans, setup.audit, AccessChangeFeed(setup.audit, keys, plans, 2.0, timer)
    )
    elsewhere = setup.access
    key, token = elsewhere.keys.create(Scope.TENANT, "acme", "ci", "alice")
    elsewhere.plans.set_plan(UsagePlan("acme", 0.001, 1), "bob")
    who = worker.authenticate(token)
    worker.plans.admit(who)
    with pytest.raises(RateLimitedError):
        worker.plans.admit(who)  # burst 1, and the plan is cached now
    elsewhere.plans.remove_plan("acme", "carol")
    timer.advance(1.0)
    with pytest.raises(RateLimitedError):
        worker.plans.admit(worker.authenticate(token))  # within the interval: still cached
    timer.advance(1.1)
    worker.plans.admit(worker.authenticate(token))  # polled: the plan is gone
    elsewhere.keys.revoke(key.id, "dave")
    assert worker.authenticate(token) == who  # the next poll is 2 s away
    timer.advance(2.1)
    with pytest.raises(AuthenticationError, match="revoked"):
        worker.authenticate(token)
