"""The byte budget: reserve before loading, measure after, evict to fit, refuse what cannot."""

from __future__ import annotations

import asyncio
import threading

import pytest
from cache_fakes import (
    FakeClock,
    Loader,
    load_and_release,
    make_cache,
    resident_keys,
    wait_for_thread_event,
)

from shoal.errors import CapacityError, ModelTooLargeError
from shoal.serving.cache import CacheFullError


def test_a_load_reserves_the_size_hint_until_the_model_is_measured() -> None:
    clock = FakeClock()
    gate = threading.Event()
    loader = Loader(300, gate=gate)
    cache = make_cache(1000, clock)

    async def scenario() -> None:
        task = asyncio.create_task(cache.lease("a", loader, 500))
        await wait_for_thread_event(loader.started)
        stats = cache.stats()
        assert (stats.reserved_bytes, stats.resident_bytes) == (500, 0)
        [info] = cache.entries()
        assert (info.state, info.bytes) == ("loading", 500)
        gate.set()
        (await task).release()

    asyncio.run(scenario())
    stats = cache.stats()
    assert (stats.reserved_bytes, stats.resident_bytes) == (0, 300)
    assert cache.known_footprint("a") == 300
    assert cache.known_footprint("never-loaded") is None


def test_a_reload_reserves_the_measured_footprint_not_the_hint() -> None:
    clock = FakeClock()
    cache = make_cache(1000, clock)
    gate = threading.Event()
    reload = Loader(300, gate=gate)

    async def scenario() -> None:
        await load_and_release(cache, "a", Loader(300), 100)
        assert cache.evict("a")
        task = asyncio.create_task(cache.lease("a", reload, 100))
        await wait_for_thread_event(reload.started)
        assert cache.stats().reserved_bytes == 300
        gate.set()
        (await task).release()

    asyncio.run(scenario())


def test_room_is_made_by_evicting_before_the_load_starts() -> None:
    clock = FakeClock()
    cache = make_cache(1000, clock)
    gate = threading.Event()
    third = Loader(400, gate=gate)

    async def scenario() -> None:
        await load_and_release(cache, "a", Loader(400), 400)
        clock.advance(1)
        await load_and_release(cache, "b", Loader(400), 400)
        task = asyncio.create_task(cache.lease("c", third, 400))
        await wait_for_thread_event(third.started)
        stats = cache.stats()
        assert (stats.resident_bytes, stats.reserved_bytes) == (400, 400)
        assert resident_keys(cache) == {"b"}
        gate.set()
        (await task).release()

    asyncio.run(scenario())
    assert resident_keys(cache) == {"b", "c"}


def test_a_model_bigger_than_its_hint_is_evicted_down_to_the_budget() -> None:
    clock = FakeClock()
    cache = make_cache(1000, clock)

    async def scenario() -> None:
        await load_and_release(cache, "a", Loader(400), 400)
        clock.advance(1)
        await load_and_release(cache, "b", Loader(400), 400)
        clock.advance(1)
        # Hint 100 fits without evicting; the real 500 bytes push the cache 300 over.
        await load_and_release(cache, "c", Loader(500), 100)

    asyncio.run(scenario())
    assert resident_keys(cache) == {"b", "c"}
    stats = cache.stats()
    assert stats.resident_bytes == 900
    assert stats.resident_bytes + stats.reserved_bytes <= stats.budget_bytes


def test_the_cache_never_holds_more_than_its_budget_under_concurrent_load() -> None:
    clock = FakeClock()
    cache = make_cache(1000, clock, max_parallel_loads=3, lease_wait_timeout_s=5)
    sizes = {f"m{i}": 100 + 37 * (i % 7) for i in range(40)}
    peaks: list[int] = []

    async def one_request(key: str) -> None:
        async with await cache.lease(key, Loader(sizes[key]), sizes[key]):
            stats = cache.stats()
            peaks.append(stats.resident_bytes + stats.reserved_bytes)
            await asyncio.sleep(0)

    async def scenario() -> None:
        keys = [f"m{(i * 7) % 40}" for i in range(200)]
        await asyncio.gather(*(one_request(key) for key in keys))

    asyncio.run(scenario())
    assert peaks
    assert max(peaks) <= 1000
    assert cache.stats().reserved_bytes == 0


def test_a_size_hint_over_the_budget_is_refused_without_loading() -> None:
    cache = make_cache(1000, FakeClock())
    loader = Loader(10)

    with pytest.raises(ModelTooLargeError, match=r"2000 bytes.*1000 bytes"):
        asyncio.run(cache.lease("huge", loader, 2000))
    assert loader.calls == 0
    assert cache.entries() == []


def test_a_model_measured_over_the_budget_is_refused_and_not_kept() -> None:
    cache = make_cache(1000, FakeClock())
    loader = Loader(2000)

    async def scenario() -> None:
        with pytest.raises(ModelTooLargeError, match=r"measured 2000 bytes"):
            await cache.lease("huge", loader, 100)
        # The measurement is remembered: the next request fails before loading.
        with pytest.raises(ModelTooLargeError, match=r"2000 bytes \(measured\)"):
            await cache.lease("huge", loader, 100)

    asyncio.run(scenario())
    assert loader.calls == 1
    assert cache.known_footprint("huge") == 2000
    stats = cache.stats()
    assert (stats.resident_bytes, stats.reserved_bytes, stats.resident_models) == (0, 0, 0)


def test_when_everything_is_leased_a_load_waits_then_fails_with_cache_full() -> None:
    cache = make_cache(1000, FakeClock(), lease_wait_timeout_s=0.05)
    blocked = Loader(600)

    async def scenario() -> None:
        held = await cache.lease("a", Loader(600), 600)
        with pytest.raises(CacheFullError, match=r"'b' \(600 bytes\)"):
            await cache.lease("b", blocked, 600)
        assert resident_keys(cache) == {"a"}
        held.release()

    asyncio.run(scenario())
    assert blocked.calls == 0
    assert cache.stats().reserved_bytes == 0
    assert issubclass(CacheFullError, CapacityError)


def test_a_waiting_load_proceeds_as_soon_as_a_lease_is_released() -> None:
    cache = make_cache(1000, FakeClock(), lease_wait_timeout_s=10)
    second = Loader(600)

    async def scenario() -> None:
        held = await cache.lease("a", Loader(600), 600)
        task = asyncio.create_task(cache.lease("b", second, 600))
        await asyncio.sleep(0.02)
        assert not task.done()
        assert second.calls == 0
        held.release()
        (await asyncio.wait_for(task, 5)).release()

    asyncio.run(scenario())
    assert resident_keys(cache) == {"b"}
    assert second.calls == 1


def test_a_load_that_cannot_fit_yet_evicts_nothing_while_it_waits() -> None:
    clock = FakeClock()
    cache = make_cache(1000, clock, lease_wait_timeout_s=0.05)

    async def scenario() -> None:
        held = await cache.lease("leased", Loader(600), 600)
        await load_and_release(cache, "idle", Loader(300), 300)
        # Evicting "idle" would not make room for 800 bytes, so it must stay.
        with pytest.raises(CacheFullError):
            await cache.lease("big", Loader(800), 800)
        assert resident_keys(cache) == {"leased", "idle"}
        held.release()

    asyncio.run(scenario())
    assert cache.stats().evictions == 0
