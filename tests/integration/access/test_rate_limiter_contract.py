"""One contract for every RateLimiter: in-process and Redis apply the same exact rule."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from shoal.access.limiter import PythonRateLimiter
from shoal.access.records import LimitReason, UsagePlan, Window
from shoal.access.store import RateLimiter
from shoal.access.windows import epoch_us as us

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
QUOTA_100 = UsagePlan("acme", rate_per_s=1e-6, burst=1_000_000, quota_per_day=100)


@pytest.fixture(params=["python", "c", pytest.param("redis", marks=pytest.mark.redis)])
def limiter(request: pytest.FixtureRequest) -> RateLimiter:
    """Each RateLimiter implementation, with no state."""
    if request.param == "python":
        return PythonRateLimiter()
    if request.param == "c":
        native = pytest.importorskip("shoal.access.native_limiter", reason="not built (no cc)")
        return native.NativeRateLimiter()
    pytest.importorskip("redis", reason="the redis package is not installed")
    from shoal.storage.redis_limiter import RedisRateLimiter

    return RedisRateLimiter(
        request.getfixturevalue("redis_client"), request.getfixturevalue("redis_prefix")
    )


def at(seconds: float, start: datetime = T0) -> datetime:
    return start + timedelta(seconds=seconds)


def test_a_full_bucket_allows_a_burst_then_refills_at_the_rate(limiter: RateLimiter) -> None:
    plan = UsagePlan("acme", rate_per_s=2.0, burst=5)
    burst = [limiter.acquire("acme", plan, us(T0)) for _ in range(5)]
    assert [d.remaining_tokens for d in burst] == [4, 3, 2, 1, 0]
    assert all(d.allowed for d in burst)
    refused = limiter.acquire("acme", plan, us(T0))
    assert (refused.allowed, refused.remaining_tokens, refused.reason) == (
        False,
        0,
        LimitReason.RATE,
    )
    assert refused.retry_after_s == pytest.approx(0.5)
    assert limiter.acquire("acme", plan, us(at(0.3))).retry_after_s == pytest.approx(0.2)
    assert limiter.acquire("acme", plan, us(at(0.5))).allowed
    assert not limiter.acquire("acme", plan, us(at(0.5))).allowed
    # 0.1 s at 10/s is a whole token even in floating point.
    fast = UsagePlan("fast", rate_per_s=10.0, burst=1)
    assert limiter.acquire("fast", fast, us(T0)).allowed
    assert [limiter.acquire("fast", fast, us(at(0.1 * i))).allowed for i in range(1, 8)] == [
        True
    ] * 7
    # Long after, the bucket holds burst tokens again, never more.
    later = [limiter.acquire("acme", plan, us(at(3600))).allowed for _ in range(6)]
    assert later == [True] * 5 + [False]


def test_refused_requests_are_not_counted(limiter: RateLimiter) -> None:
    plan = UsagePlan("acme", rate_per_s=1000.0, burst=1000, quota_per_day=3)
    allowed = [limiter.acquire("acme", plan, us(at(i))).allowed for i in range(8)]
    assert allowed == [True] * 3 + [False] * 5
    day, month = limiter.usage("acme", plan, us(at(10)))
    assert (day.window, day.used, day.limit, day.ratio) == (Window.DAY, 3, 3, 1.0)
    assert (month.window, month.used, month.limit) == (Window.MONTH, 3, None)


def test_an_exhausted_daily_quota_waits_for_utc_midnight(limiter: RateLimiter) -> None:
    plan = UsagePlan("acme", rate_per_s=1000.0, burst=10, quota_per_day=2)
    evening = datetime(2025, 3, 1, 18, 0, tzinfo=UTC)
    assert limiter.acquire("acme", plan, us(evening)).allowed
    assert limiter.acquire("acme", plan, us(evening)).allowed
    refused = limiter.acquire("acme", plan, us(evening))
    assert (refused.allowed, refused.reason) == (False, LimitReason.DAY_QUOTA)
    assert refused.retry_after_s == pytest.approx(6 * 3600)
    assert refused.retry_after_header == "21600"
    assert not limiter.acquire(
        "acme", plan, us(datetime(2025, 3, 1, 23, 59, 59, tzinfo=UTC))
    ).allowed
    midnight = datetime(2025, 3, 2, tzinfo=UTC)
    assert limiter.acquire("acme", plan, us(midnight)).allowed
    assert limiter.usage("acme", plan, us(midnight))[0].used == 1


@pytest.mark.parametrize(
    ("last_second", "first_of_next"),
    [
        (datetime(2025, 1, 31, 23, 59, 59, tzinfo=UTC), datetime(2025, 2, 1, tzinfo=UTC)),
        (datetime(2024, 12, 31, 23, 59, 59, tzinfo=UTC), datetime(2025, 1, 1, tzinfo=UTC)),
    ],
)
def test_a_monthly_quota_resets_when_the_month_rolls_over(
    limiter: RateLimiter, last_second: datetime, first_of_next: datetime
) -> None:
    plan = UsagePlan("acme", rate_per_s=1000.0, burst=10, quota_per_day=5, quota_per_month=2)
    assert limiter.acquire("acme", plan, us(last_second - timedelta(days=3))).allowed
    assert limiter.acquire("acme", plan, us(last_second)).allowed
    refused = limiter.acquire("acme", plan, us(last_second))
    assert (refused.reason, refused.retry_after_s) == (LimitReason.MONTH_QUOTA, 1.0)
    assert limiter.acquire("acme", plan, us(first_of_next)).allowed
    day, month = limiter.usage("acme", plan, us(first_of_next))
    assert (day.used, month.used, month.ratio) == (1, 1, 0.5)


def test_the_longest_wait_wins_when_several_limits_refuse(limiter: RateLimiter) -> None:
    # At noon the day ends in 43200 s; a token comes in 1000 s at one plan, 100000 s at the other.
    for subject, rate, reason, wait in [
        ("acme", 0.001, LimitReason.DAY_QUOTA, 43200.0),
        ("globex", 0.00001, LimitReason.RATE, 100000.0),
    ]:
        plan = UsagePlan(subject, rate_per_s=rate, burst=1, quota_per_day=1)
        assert limiter.acquire(subject, plan, us(T0)).allowed
        refused = limiter.acquire(subject, plan, us(T0))
        assert (refused.reason, refused.retry_after_s) == (reason, pytest.approx(wait))


def test_usage_ratio_is_readable_for_alarms(limiter: RateLimiter) -> None:
    plan = UsagePlan("acme", 1000.0, 1000, quota_per_day=10, quota_per_month=100)
    for i in range(9):
        limiter.acquire("acme", plan, us(at(i)))
    day, month = limiter.usage("acme", plan, us(at(10)))
    assert (day.used, day.ratio, day.near_limit()) == (9, 0.9, True)
    assert (month.used, month.ratio, month.near_limit()) == (9, 0.09, False)
    assert day.resets_at == datetime(2025, 3, 2, tzinfo=UTC)
    assert month.resets_at == datetime(2025, 4, 1, tzinfo=UTC)


def test_subjects_have_their_own_buckets_and_counters(limiter: RateLimiter) -> None:
    plan = UsagePlan("x", rate_per_s=1.0, burst=1, quota_per_day=1)
    assert limiter.acquire("acme", plan, us(T0)).allowed
    assert limiter.acquire("globex", plan, us(T0)).allowed
    assert limiter.acquire("key:0123456789abcdef", plan, us(T0)).allowed
    assert not limiter.acquire("acme", plan, us(at(5))).allowed
    assert [u.used for u in limiter.usage("globex", plan, us(T0))] == [1, 1]


def test_a_clock_behind_the_last_request_refills_nothing(limiter: RateLimiter) -> None:
    plan = UsagePlan("acme", rate_per_s=1.0, burst=2)
    assert limiter.acquire("acme", plan, us(at(100))).allowed
    assert limiter.acquire("acme", plan, us(at(100))).allowed
    behind = limiter.acquire("acme", plan, us(at(99)))  # another replica, one second slow
    assert (behind.allowed, behind.reason) == (False, LimitReason.RATE)
    assert behind.retry_after_s == pytest.approx(1.0)
    assert limiter.acquire("acme", plan, us(at(101))).allowed


def hammer(limiter: RateLimiter, plan: UsagePlan, attempts: int) -> int:
    """How many of ``attempts`` requests at T0 were allowed."""
    return sum(limiter.acquire(plan.subject, plan, us(T0)).allowed for _ in range(attempts))


@pytest.mark.parametrize(
    "plan",
    [
        QUOTA_100,
        UsagePlan("acme", rate_per_s=1e-6, burst=100),
    ],
    ids=["quota", "bucket"],
)
def test_eight_threads_get_exactly_the_limit(limiter: RateLimiter, plan: UsagePlan) -> None:
    counts: list[int] = []
    barrier = threading.Barrier(8)

    def work() -> None:
        barrier.wait()
        counts.append(hammer(limiter, plan, 40))

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(counts) == 100
    assert limiter.usage("acme", plan, us(T0))[0].used == 100
