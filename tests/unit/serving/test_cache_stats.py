"""What the cache reports (stats, entries, hot keys) and how its eviction order plays out."""

from __future__ import annotations

import asyncio
import dataclasses
import json

from cache_fakes import FakeClock, Loader, load_and_release, make_cache, resident_keys


def test_stats_count_hits_misses_loads_times_and_age_at_eviction() -> None:
    clock = FakeClock()
    cache = make_cache(1000, clock)
    loader = Loader(100, clock=clock, cost_s=2.0)

    async def scenario() -> None:
        for _ in range(3):
            await load_and_release(cache, "a", loader, 100)
        clock.advance(5.0)
        cache.evict("a")

    asyncio.run(scenario())
    stats = cache.stats()
    assert (stats.hits, stats.misses, stats.loads, stats.evictions) == (2, 1, 1, 1)
    assert stats.hit_ratio == 2 / 3
    assert stats.load_seconds_total == 2.0
    assert stats.wait_seconds_total == 2.0
    assert stats.mean_age_at_eviction_s == 5.0
    assert stats.max_age_at_eviction_s == 5.0
    assert stats.budget_bytes == 1000
    assert json.loads(json.dumps(dataclasses.asdict(stats)))["hits"] == 2


def test_stats_report_occupancy_and_pins() -> None:
    cache = make_cache(1000, FakeClock())

    async def scenario() -> None:
        await cache.preload("a", Loader(300), 300, pin=True)
        await load_and_release(cache, "b", Loader(200), 200)

    asyncio.run(scenario())
    stats = cache.stats()
    assert (stats.resident_models, stats.resident_bytes, stats.pinned_models) == (2, 500, 1)
    assert (stats.loading_models, stats.reserved_bytes, stats.hit_ratio) == (0, 0, 0.0)


def test_entries_describe_each_model() -> None:
    clock = FakeClock()
    cache = make_cache(1000, clock)
    loader = Loader(100, clock=clock, cost_s=1.0)

    async def scenario() -> None:
        await load_and_release(cache, "a", loader, 100)
        clock.advance(3.0)
        held = await cache.lease("a", loader, 100)
        [info] = cache.entries()
        assert (info.key, info.bytes, info.state, info.hits, info.leases) == (
            "a",
            100,
            "resident",
            1,
            1,
        )
        assert (info.pinned, info.protected) == (False, True)
        assert (info.loaded_at, info.last_used, info.load_seconds) == (1001.0, 1004.0, 1.0)
        held.release()
        assert json.dumps(dataclasses.asdict(info))

    asyncio.run(scenario())


def test_hot_keys_put_pinned_then_most_used_models_first() -> None:
    clock = FakeClock()
    cache = make_cache(10_000, clock)

    async def scenario() -> None:
        for key, uses in (("cold", 1), ("warm", 2), ("hot", 5)):
            for _ in range(uses):
                clock.advance(1)
                await load_and_release(cache, key, Loader(100), 100)
        await cache.preload("pinned", Loader(100), 100, pin=True)

    asyncio.run(scenario())
    assert cache.hot_keys(3) == ["pinned", "hot", "warm"]
    assert cache.hot_keys(10) == ["pinned", "hot", "warm", "cold"]
    assert cache.hot_keys(0) == []


def test_a_scan_of_ten_times_the_capacity_does_not_evict_the_hot_set() -> None:
    clock = FakeClock()
    cache = make_cache(1000, clock)  # room for ten 100-byte models
    hot = [f"hot{i}" for i in range(4)]

    async def scenario() -> None:
        for _ in range(3):
            for key in hot:
                clock.advance(1)
                await load_and_release(cache, key, Loader(100), 100)
        for i in range(100):
            clock.advance(1)
            await load_and_release(cache, f"cold{i}", Loader(100), 100)

    asyncio.run(scenario())
    assert set(hot) <= resident_keys(cache)
    assert cache.stats().loads == 104


def test_with_equal_use_the_larger_model_is_evicted_first_even_if_used_later() -> None:
    clock = FakeClock()
    cache = make_cache(1000, clock)

    async def scenario() -> None:
        await load_and_release(cache, "small", Loader(200, clock=clock, cost_s=1.0), 200)
        clock.advance(1)
        await load_and_release(cache, "large", Loader(500, clock=clock, cost_s=1.0), 500)
        clock.advance(1)
        await load_and_release(cache, "new", Loader(400), 400)

    asyncio.run(scenario())
    assert resident_keys(cache) == {"small", "new"}


def test_an_expensive_model_is_kept_over_a_cheap_one_even_if_older() -> None:
    clock = FakeClock()
    cache = make_cache(1000, clock)

    async def scenario() -> None:
        await load_and_release(cache, "slow", Loader(400, clock=clock, cost_s=10.0), 400)
        clock.advance(1)
        await load_and_release(cache, "quick", Loader(400, clock=clock, cost_s=0.1), 400)
        clock.advance(1)
        await load_and_release(cache, "new", Loader(400), 400)

    asyncio.run(scenario())
    assert resident_keys(cache) == {"slow", "new"}
