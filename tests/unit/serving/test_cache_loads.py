"""Loading: single flight, bounded parallel loads, cancellation that spares the load, failures."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading

import pytest
from cache_fakes import FakeClock, Loader, make_cache, resident_keys, wait_for_thread_event

from shoal.errors import ModelLoadError, RuntimeLoadError


def test_concurrent_first_requests_share_one_load_and_one_model() -> None:
    gate = threading.Event()
    loader = Loader(100, gate=gate)
    cache = make_cache(1000, FakeClock())

    async def scenario() -> None:
        tasks = [asyncio.create_task(cache.lease("a", loader, 100)) for _ in range(10)]
        await wait_for_thread_event(loader.started)
        await asyncio.sleep(0.01)
        gate.set()
        leases = await asyncio.gather(*tasks)
        assert all(lease.model is leases[0].model for lease in leases)
        assert not any(lease.hit for lease in leases)
        assert [e.leases for e in cache.entries()] == [10]
        for lease in leases:
            lease.release()

    asyncio.run(scenario())
    assert loader.calls == 1
    stats = cache.stats()
    assert (stats.loads, stats.misses, stats.hits) == (1, 10, 0)


def test_loads_of_different_keys_run_in_parallel_up_to_the_limit() -> None:
    gates = [threading.Event() for _ in range(3)]
    loaders = [Loader(100, gate=gate) for gate in gates]
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as executor:
        cache = make_cache(1000, FakeClock(), max_parallel_loads=2, executor=executor)

        async def scenario() -> None:
            tasks = [
                asyncio.create_task(cache.lease(f"k{i}", loader, 100))
                for i, loader in enumerate(loaders)
            ]
            # Both first loads are inside their loaders at once: they run in parallel.
            await wait_for_thread_event(loaders[0].started)
            await wait_for_thread_event(loaders[1].started)
            await asyncio.sleep(0.05)
            assert not loaders[2].started.is_set()
            gates[0].set()
            await wait_for_thread_event(loaders[2].started)
            for gate in gates:
                gate.set()
            for lease in await asyncio.gather(*tasks):
                lease.release()

        asyncio.run(scenario())
    assert [loader.calls for loader in loaders] == [1, 1, 1]


def test_a_cancelled_waiter_does_not_cancel_the_load_for_the_others() -> None:
    gate = threading.Event()
    loader = Loader(100, gate=gate)
    cache = make_cache(1000, FakeClock())

    async def scenario() -> None:
        tasks = [asyncio.create_task(cache.lease("a", loader, 100)) for _ in range(3)]
        await wait_for_thread_event(loader.started)
        tasks[1].cancel()
        with pytest.raises(asyncio.CancelledError):
            await tasks[1]
        gate.set()
        first, third = await tasks[0], await tasks[2]
        assert first.model is third.model
        assert [(e.state, e.leases) for e in cache.entries()] == [("resident", 2)]
        first.release()
        third.release()

    asyncio.run(scenario())
    assert loader.calls == 1


def test_a_load_whose_only_waiter_is_cancelled_still_lands_in_the_cache() -> None:
    gate = threading.Event()
    loader = Loader(100, gate=gate)
    unused = Loader(100)
    cache = make_cache(1000, FakeClock())

    async def scenario() -> None:
        task = asyncio.create_task(cache.lease("a", loader, 100))
        await wait_for_thread_event(loader.started)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        gate.set()
        await cache.preload("a", unused, 100)  # joins the load still in flight
        assert [(e.state, e.leases) for e in cache.entries()] == [("resident", 0)]
        async with await cache.lease("a", unused, 100) as lease:
            assert lease.hit

    asyncio.run(scenario())
    assert (loader.calls, unused.calls) == (1, 0)


def test_a_failed_load_fails_every_waiter_and_leaves_nothing_behind() -> None:
    gate = threading.Event()
    loader = Loader(100, gate=gate, error=ValueError("corrupt artifact"))
    cache = make_cache(1000, FakeClock())

    async def scenario() -> list[BaseException | object]:
        tasks = [asyncio.create_task(cache.lease("tenant/model:3", loader, 100)) for _ in range(3)]
        await wait_for_thread_event(loader.started)
        gate.set()
        return await asyncio.gather(*tasks, return_exceptions=True)

    outcomes = asyncio.run(scenario())
    for outcome in outcomes:
        assert isinstance(outcome, ModelLoadError)
        assert isinstance(outcome, RuntimeLoadError)
        assert "tenant/model:3" in str(outcome)
        assert isinstance(outcome.__cause__, ValueError)
    assert loader.calls == 1
    assert cache.entries() == []
    stats = cache.stats()
    assert (stats.reserved_bytes, stats.resident_bytes, stats.load_failures) == (0, 0, 1)


def test_a_failed_key_fails_fast_within_the_backoff_and_is_retried_after_it() -> None:
    clock = FakeClock()
    loader = Loader(100, error=OSError("artifact unreadable"), failures=1)
    cache = make_cache(1000, clock, failure_backoff_s=5.0)

    async def scenario() -> None:
        with pytest.raises(ModelLoadError, match="artifact unreadable"):
            await cache.lease("a", loader, 100)
        clock.advance(4.9)
        with pytest.raises(ModelLoadError, match=r"'a' failed to load .* ago") as caught:
            await cache.lease("a", loader, 100)
        assert isinstance(caught.value.__cause__, OSError)
        assert loader.calls == 1
        clock.advance(0.2)
        async with await cache.lease("a", loader, 100) as lease:
            assert lease.model.nbytes == 100

    asyncio.run(scenario())
    assert loader.calls == 2
    assert resident_keys(cache) == {"a"}


def test_a_miss_reports_its_wait_and_load_time_and_a_hit_reports_none() -> None:
    clock = FakeClock()
    cache = make_cache(1000, clock)
    loader = Loader(100, clock=clock, cost_s=2.5)

    async def scenario() -> None:
        async with await cache.lease("a", loader, 100) as miss:
            assert (miss.hit, miss.wait_seconds, miss.load_seconds) == (False, 2.5, 2.5)
        async with await cache.lease("a", loader, 100) as hit:
            assert (hit.hit, hit.wait_seconds, hit.load_seconds) == (True, 0.0, 0.0)

    asyncio.run(scenario())


class _NoThreads(concurrent.futures.Executor):
    """An executor that refuses work: an inline load must never reach it."""

    def submit(self, fn, /, *args, **kwargs):  # type: ignore[no-untyped-def]
        raise AssertionError("an inline load went to the executor")


def test_a_quick_load_runs_inline_on_the_loop_and_later_requests_hit() -> None:
    loader = Loader(100)
    cache = make_cache(1000, FakeClock(), executor=_NoThreads())

    async def scenario() -> None:
        assert cache.lease_resident("a") is None
        first = await cache.lease("a", loader, 100, inline=True)
        assert (first.hit, first.model.nbytes) == (False, 100)
        again = cache.lease_resident("a")
        assert again is not None
        assert again.hit
        assert again.model is first.model
        first.release()
        again.release()

    asyncio.run(scenario())
    assert loader.calls == 1
    stats = cache.stats()
    assert (stats.loads, stats.misses, stats.hits, stats.resident_bytes) == (1, 1, 1, 100)


def test_a_quick_load_that_must_wait_for_room_takes_the_usual_path() -> None:
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as executor:
        cache = make_cache(150, FakeClock(), executor=executor, lease_wait_timeout_s=5)

        async def scenario() -> None:
            held = await cache.lease("a", Loader(100), 100, inline=True)
            waiting = asyncio.create_task(cache.lease("b", Loader(100), 100, inline=True))
            await asyncio.sleep(0.05)
            assert not waiting.done()  # "a" is leased: no room until it is released
            held.release()
            lease = await waiting
            assert resident_keys(cache) == {"b"}
            lease.release()

        asyncio.run(scenario())


def test_a_failing_quick_load_fails_that_request_and_backs_off() -> None:
    loader = Loader(100, error=RuntimeLoadError("corrupt"))
    cache = make_cache(1000, FakeClock(), executor=_NoThreads())

    async def scenario() -> None:
        for _ in range(2):
            with pytest.raises(ModelLoadError, match="corrupt"):
                await cache.lease("a", loader, 100, inline=True)

    asyncio.run(scenario())
    assert loader.calls == 1  # the second request met the back-off, not the loader
    assert cache.stats().load_failures == 1
    assert cache.stats().reserved_bytes == 0
