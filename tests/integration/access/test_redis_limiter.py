"""RedisRateLimiter beyond the contract: processes sharing it, the script cache, key expiry."""

from __future__ import annotations

import multiprocessing
import threading
from datetime import UTC, datetime
from typing import Any

import pytest
from access_stores import REDIS_URL

from shoal.access.records import UsagePlan
from shoal.access.windows import epoch_us as us
from shoal.access.windows import windows_at
from shoal.errors import StorageError

pytest.importorskip("redis", reason="the redis package is not installed")

from shoal.storage.redis_limiter import ACQUIRE_SHA, RedisRateLimiter

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
QUOTA_100 = UsagePlan("acme", rate_per_s=1e-6, burst=1_000_000, quota_per_day=100)


def _hammer(limiter: RedisRateLimiter, attempts: int) -> int:
    return sum(limiter.acquire("acme", QUOTA_100, us(T0)).allowed for _ in range(attempts))


def _hammer_from_process(url: str, prefix: str, attempts: int) -> int:
    limiter = RedisRateLimiter.from_url(url, prefix)
    counts: list[int] = []
    threads = [
        threading.Thread(target=lambda: counts.append(_hammer(limiter, attempts))) for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    limiter.close()
    return sum(counts)


@pytest.mark.redis
def test_two_processes_sharing_redis_get_exactly_the_quota(
    redis_client: Any, redis_prefix: str
) -> None:
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        allowed = pool.starmap(_hammer_from_process, [(REDIS_URL, redis_prefix, 40)] * 2)
    assert sum(allowed) == 100  # of 2 processes x 4 threads x 40 attempts
    day, _ = RedisRateLimiter(redis_client, redis_prefix).usage("acme", QUOTA_100, us(T0))
    assert (day.used, day.limit) == (100, 100)


@pytest.mark.redis
def test_redis_reloads_the_script_after_a_flush_and_expires_old_windows(
    redis_client: Any, redis_prefix: str
) -> None:
    limiter = RedisRateLimiter(redis_client, redis_prefix, grace_s=3600, bucket_margin_s=60)
    plan = UsagePlan("acme", rate_per_s=1.0, burst=10, quota_per_day=5, quota_per_month=50)
    evening = datetime(2025, 3, 31, 18, 0, tzinfo=UTC)
    redis_client.script_flush()
    assert redis_client.script_exists(ACQUIRE_SHA) == [False]
    assert limiter.acquire("acme", plan, us(evening)).allowed  # NOSCRIPT, then EVAL
    assert redis_client.script_exists(ACQUIRE_SHA) == [True]
    assert limiter.acquire("acme", plan, us(evening)).allowed  # EVALSHA finds it now
    bucket, day, month = limiter.keys("acme", windows_at(us(evening)))
    assert day.endswith(":{acme}:day:2025-03-31")
    assert month.endswith(":{acme}:month:2025-03")
    # The day ends in 6 h and the month with it; both counters outlive their window by 1 h.
    assert 6 * 3600 + 3600 - 5 <= redis_client.ttl(day) <= 6 * 3600 + 3600 + 1
    assert 6 * 3600 + 3600 - 5 <= redis_client.ttl(month) <= 6 * 3600 + 3600 + 1
    # The bucket (8 of 10 tokens) is full again after 2 s at 1/s; kept 60 s beyond that.
    assert 55_000 <= redis_client.pttl(bucket) <= 62_000


@pytest.mark.redis
def test_two_redis_limiters_with_one_prefix_share_state(
    redis_client: Any, redis_prefix: str
) -> None:
    one, two = (RedisRateLimiter(redis_client, redis_prefix) for _ in range(2))
    plan = UsagePlan("acme", rate_per_s=1.0, burst=2)
    assert one.acquire("acme", plan, us(T0)).allowed
    assert two.acquire("acme", plan, us(T0)).allowed
    assert not one.acquire("acme", plan, us(T0)).allowed


def test_an_unreachable_redis_is_a_storage_error() -> None:
    limiter = RedisRateLimiter.from_url("redis://127.0.0.1:1/0")
    with pytest.raises(StorageError, match=r"Redis at 127\.0\.0\.1:1 failed"):
        limiter.acquire("acme", UsagePlan("acme", 1.0, 1), us(T0))
