"""Usage-plan limits shared through Redis by two servers' worth of services."""

import secrets
from pathlib import Path

import pytest

from shoal.access.records import Principal, Scope
from shoal.client import Client
from shoal.settings import Settings
from shoal.wiring import build_services

redis = pytest.importorskip("redis", reason="the redis extra is not installed")


@pytest.fixture
def redis_url() -> str:
    url = "redis://127.0.0.1:6379/0"
    try:
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except redis.RedisError as exc:
        pytest.skip(f"Redis at {url} is unreachable: {exc}")
    return url


def test_two_servers_configured_with_redis_share_one_limit(tmp_path: Path, redis_url: str) -> None:
    settings = Settings(home=tmp_path, redis_url=redis_url)
    tenant = f"t{secrets.token_hex(4)}"  # a fresh subject: Redis keeps state between runs
    with Client(settings) as admin:
        admin.create_tenant(tenant)
        admin.set_plan(tenant, rate_per_s=0.001, burst=3)
    first, second = build_services(settings), build_services(settings)
    try:
        who = Principal(key_id="k", scope=Scope.TENANT, tenant=tenant)
        decisions = [
            services.access.plans.acquire(who).allowed
            for services in (first, second, first, second, first)
        ]
        assert decisions == [True, True, True, False, False]
    finally:
        first.close()
        second.close()
