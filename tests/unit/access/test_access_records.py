"""Access records: tenant scoping, plan validation, usage ratios, Retry-After, UTC windows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from access_fakes import FakeTimer

from shoal.access.cache import TtlCache
from shoal.access.records import Decision, LimitReason, Principal, Scope, Usage, UsagePlan, Window
from shoal.access.windows import epoch_us, windows_at
from shoal.errors import AccessDeniedError, NotFoundError, ValidationError

ACME = Principal("0123456789abcdef", Scope.TENANT, "acme")
ADMIN = Principal("fedcba9876543210", Scope.ADMIN, None)


@pytest.mark.parametrize(
    ("principal", "tenant", "visible"),
    [(ACME, "acme", True), (ACME, "globex", False), (ADMIN, "acme", True), (ADMIN, "x", True)],
)
def test_a_tenant_key_sees_only_its_own_tenant_and_an_admin_key_all(
    principal: Principal, tenant: str, visible: bool
) -> None:
    assert principal.can_see(tenant) is visible


def test_another_tenants_model_answers_as_missing_not_forbidden() -> None:
    ACME.require_visible("acme", "model 'acme/fraud'")
    with pytest.raises(NotFoundError, match=r"^model 'globex/fraud' does not exist$"):
        ACME.require_visible("globex", "model 'globex/fraud'")
    ADMIN.require_visible("globex", "model 'globex/fraud'")


def test_admin_operations_need_an_admin_key() -> None:
    ADMIN.require_admin("creating a tenant")
    assert not ACME.is_admin
    with pytest.raises(AccessDeniedError, match="creating a tenant needs an admin key"):
        ACME.require_admin("creating a tenant")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"rate_per_s": 0.0}, "rate_per_s must be a positive number, got 0.0"),
        ({"rate_per_s": float("inf")}, "rate_per_s must be a positive number"),
        ({"burst": 0}, "burst must be from 1 to 9007199254740992, got 0"),
        ({"burst": 2**53 + 1}, "burst must be from 1 to"),
        ({"quota_per_day": -1}, "quota_per_day must be from 0 to 9007199254740992"),
        ({"quota_per_month": -5}, "quota_per_month must be from 0 to"),
        ({"quota_per_month": 2**60}, "quota_per_month must be from 0 to"),
    ],
)
def test_a_plan_with_impossible_limits_is_refused(kwargs: dict[str, float], message: str) -> None:
    values: dict[str, float] = {"rate_per_s": 1.0, "burst": 1, **kwargs}
    with pytest.raises(ValidationError, match=message):
        UsagePlan("acme", **values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("used", "limit", "ratio", "near"),
    [
        (0, 10, 0.0, False),
        (8, 10, 0.8, False),
        (9, 10, 0.9, True),
        (10, 10, 1.0, True),
        (5, None, None, False),
        (0, 0, 1.0, True),
    ],
)
def test_usage_reports_its_ratio_and_whether_it_is_within_ten_percent(
    used: int, limit: int | None, ratio: float | None, near: bool
) -> None:
    usage = Usage("acme", Window.DAY, used, limit, datetime(2025, 3, 2, tzinfo=UTC))
    assert usage.ratio == ratio
    assert usage.near_limit() is near


@pytest.mark.parametrize(
    ("decision", "header"),
    [
        (Decision(True, 0.0, 3), "0"),
        (Decision(False, 0.2, 0, LimitReason.RATE), "1"),
        (Decision(False, 1.0, 0, LimitReason.RATE), "1"),
        (Decision(False, 21600.5, 4, LimitReason.DAY_QUOTA), "21601"),
    ],
)
def test_retry_after_is_whole_seconds_rounded_up(decision: Decision, header: str) -> None:
    assert decision.retry_after_header == header


def test_quota_windows_are_utc_calendar_days_and_months() -> None:
    plus_two = timezone(timedelta(hours=2))
    windows = windows_at(
        epoch_us(datetime(2025, 3, 1, 1, 30, tzinfo=plus_two))
    )  # 23:30 UTC on Feb 28
    assert (windows.day_id, windows.month_id) == ("2025-02-28", "2025-02")
    assert windows.day_reset == datetime(2025, 3, 1, tzinfo=UTC)
    assert windows.month_reset == datetime(2025, 3, 1, tzinfo=UTC)
    assert windows.day_left_s == 1800.0
    december = windows_at(epoch_us(datetime(2024, 12, 31, 12, tzinfo=UTC)))
    assert december.month_reset == datetime(2025, 1, 1, tzinfo=UTC)
    with pytest.raises(ValidationError, match="must be timezone-aware"):
        epoch_us(datetime(2025, 3, 1))


def test_the_ttl_cache_expires_entries_and_makes_room_oldest_first() -> None:
    timer = FakeTimer()
    cache: TtlCache[str, int] = TtlCache(10, timer)
    cache.put("a", 1, ttl_s=2.0)
    timer.advance(1.99)
    assert cache.get("a") == 1
    timer.advance(0.01)
    assert cache.get("a") is None
    for i in range(10):
        cache.put(f"k{i}", i, ttl_s=60.0)
    cache.put("new", 99, ttl_s=60.0)
    assert len(cache) == 10
    assert cache.get("k1") == 1  # "a" (expired) and the oldest tenth ("k0") made room
    assert cache.get("k0") is None
    assert cache.get("new") == 99
