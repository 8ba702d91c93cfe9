"""Leases and pins: what is in use or pinned is never evicted; eviction waits for release."""

from __future__ import annotations

import asyncio

import pytest
from cache_fakes import FakeClock, Loader, load_and_release, make_cache, resident_keys

from shoal.serving.cache import CacheFullError


def test_a_leased_model_is_not_evicted_even_when_it_is_the_policys_first_choice() -> None:
    clock = FakeClock()
    cache = make_cache(1000, clock)

    async def scenario() -> None:
        held = await cache.lease("a", Loader(500), 500)  # oldest, equal value: first victim
        clock.advance(1)
        await load_and_release(cache, "b", Loader(500), 500)
        clock.advance(1)
        await load_and_release(cache, "c", Loader(500), 500)
        assert resident_keys(cache) == {"a", "c"}
        held.release()

    asyncio.run(scenario())


def test_evicting_a_leased_model_waits_for_its_last_release() -> None:
    cache = make_cache(1000, FakeClock())

    async def scenario() -> None:
        first = await cache.lease("a", Loader(100), 100)
        second = await cache.lease("a", Loader(100), 100)
        assert cache.evict("a") is True
        assert resident_keys(cache) == {"a"}
        first.release()
        assert resident_keys(cache) == {"a"}
        second.release()
        assert resident_keys(cache) == set()

    asyncio.run(scenario())
    assert cache.stats().evictions == 1
    assert cache.stats().resident_bytes == 0


def test_evict_returns_false_for_a_key_that_is_not_resident() -> None:
    cache = make_cache(1000, FakeClock())
    assert cache.evict("missing") is False


def test_async_with_releases_the_lease_on_exit() -> None:
    cache = make_cache(1000, FakeClock())

    async def scenario() -> None:
        async with await cache.lease("a", Loader(100), 100) as lease:
            assert lease.key == "a"
            assert lease.model.nbytes == 100
            assert [e.leases for e in cache.entries()] == [1]
        assert [e.leases for e in cache.entries()] == [0]

    asyncio.run(scenario())


def test_releasing_a_lease_twice_gives_back_only_one_hold() -> None:
    cache = make_cache(1000, FakeClock())

    async def scenario() -> None:
        first = await cache.lease("a", Loader(100), 100)
        await cache.lease("a", Loader(100), 100)
        first.release()
        first.release()
        assert [e.leases for e in cache.entries()] == [1]
        assert cache.evict("a")
        assert resident_keys(cache) == {"a"}

    asyncio.run(scenario())


def test_a_pinned_model_is_never_evicted() -> None:
    clock = FakeClock()
    cache = make_cache(1000, clock)

    async def scenario() -> None:
        await cache.preload("pinned", Loader(400), 400, pin=True)
        for i in range(10):
            clock.advance(1)
            await load_and_release(cache, f"k{i}", Loader(300), 300)
        assert "pinned" in resident_keys(cache)
        with pytest.raises(CacheFullError):
            await cache.lease("too-big-beside-the-pin", Loader(700), 700)

    asyncio.run(scenario())
    assert cache.stats().pinned_models == 1


def test_a_pin_on_a_key_not_yet_loaded_keeps_it_once_loaded_until_unpinned() -> None:
    clock = FakeClock()
    cache = make_cache(1000, clock)

    async def scenario() -> None:
        cache.pin("a")
        await load_and_release(cache, "a", Loader(600), 600)
        with pytest.raises(CacheFullError):
            await cache.lease("b", Loader(600), 600)
        assert [(e.key, e.pinned) for e in cache.entries()] == [("a", True)]
        cache.unpin("a")
        await load_and_release(cache, "b", Loader(600), 600)

    asyncio.run(scenario())
    assert resident_keys(cache) == {"b"}
