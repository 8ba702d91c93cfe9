"""Scrape-time sources: the cache's stats, the package folder on disk, usage plans."""

import os
import threading
from pathlib import Path

from shoal.observability.metric_sources import (
    DiskSource,
    Refreshing,
    UsageSample,
    UsageSource,
    cache_families,
    measure_disk_use,
)
from shoal.serving.cache_stats import CacheStats


def values(families: list) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:  # type: ignore[type-arg]
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in families
        for sample in family.metric.samples
    }


def test_the_cache_stats_become_counters_and_gauges() -> None:
    stats = CacheStats(
        budget_bytes=1 << 30,
        resident_bytes=5000,
        reserved_bytes=100,
        resident_models=3,
        loading_models=1,
        pinned_models=1,
        hits=90,
        misses=10,
        hit_ratio=0.9,
        loads=8,
        load_failures=2,
        evictions=4,
        load_seconds_total=0.5,
        wait_seconds_total=0.7,
        mean_age_at_eviction_s=1.0,
        max_age_at_eviction_s=2.0,
    )
    seen = values(cache_families(stats))
    assert seen[("shoal_cache_hits_total", ())] == 90
    assert seen[("shoal_cache_misses_total", ())] == 10
    assert seen[("shoal_cache_evictions_total", ())] == 4
    assert seen[("shoal_cache_load_seconds_total", ())] == 0.5
    assert seen[("shoal_cache_resident_bytes", ())] == 5000
    assert seen[("shoal_cache_budget_bytes", ())] == 1 << 30


def test_disk_use_counts_the_bytes_of_every_unpacked_package(tmp_path: Path) -> None:
    for digest in ("aa", "bb"):
        package = tmp_path / digest / "model"
        package.mkdir(parents=True)
        (package / "weights.bin").write_bytes(os.urandom(10_000))
    (tmp_path / ".fetch-123").mkdir()  # a download in flight is not a package
    use = measure_disk_use(tmp_path)
    assert use.packages == 2
    assert use.used_bytes >= 20_000  # allocated blocks, at least the bytes written
    assert use.free_bytes > 0
    assert measure_disk_use(tmp_path / "missing").used_bytes == 0


def test_a_refreshing_value_is_computed_in_the_background_and_never_waited_for() -> None:
    gate, computed = threading.Event(), threading.Event()

    def slow() -> int:
        gate.wait(5)
        computed.set()
        return 42

    clock = [0.0]
    value = Refreshing(slow, ttl_s=60.0, name="test", clock=lambda: clock[0])
    assert value.get() is None  # started, not waited for
    assert value.get() is None  # one refresh at a time
    gate.set()
    computed.wait(5)
    for _ in range(100):
        if value.get() == 42:
            break
        threading.Event().wait(0.01)
    assert value.get() == 42


def test_a_failing_refresh_keeps_the_last_value() -> None:
    results = iter([7])

    def flaky() -> int:
        return next(results)  # StopIteration the second time

    value = Refreshing(flaky, ttl_s=0.0, name="test")
    assert value.refresh_now() == 7
    assert value.refresh_now() == 7


def test_usage_ratios_are_reported_per_subject_and_window_up_to_the_cap() -> None:
    samples = [
        UsageSample("acme", "day", 95, 100),
        UsageSample("acme", "month", 95, 1000),
        UsageSample("globex", "day", 0, 0),
        UsageSample("initech", "day", 1, 10),
    ]
    source = UsageSource(lambda: samples, max_subjects=2)
    source._usage.refresh_now()
    seen = values(source.families())
    assert seen[("shoal_plan_usage_ratio", (("subject", "acme"), ("window", "day")))] == 0.95
    assert seen[("shoal_plan_usage_ratio", (("subject", "acme"), ("window", "month")))] == 0.095
    assert seen[("shoal_plan_usage_ratio", (("subject", "globex"), ("window", "day")))] == 1.0
    assert seen[("shoal_plan_usage_requests", (("subject", "acme"), ("window", "day")))] == 95
    assert not [key for key in seen if ("subject", "initech") in key[1]]


def test_the_disk_source_reports_nothing_until_its_first_walk_is_done(tmp_path: Path) -> None:
    source = DiskSource(tmp_path)
    first = source.families()
    source._use.refresh_now()
    assert first == [] or len(first) == 3
    assert {family.metric.name for family in source.families()} == {
        "shoal_package_cache_used_bytes",
        "shoal_package_cache_packages",
        "shoal_package_cache_free_bytes",
    }
    assert all(family.across_processes == "max" for family in source.families())
