"""The cost of a ``/metrics`` scrape at 10,000 models: bytes, and time on and off the event loop.

The real metrics objects are filled the way the server fills them (``observe_inference`` for
each model, a few statuses, hits and misses; loads), with the cache's stats, the process and a
usage plan per tenant for ``--plans`` tenants. Then, median of ``--rounds``:

- one process: the part that runs on the event loop (copying the counters and reading the
  sources) and the rendering on a worker thread, text and gzip sizes;
- two processes sharing a metrics folder (the multiprocess path, here two writers in this
  process with distinct identities, which is what the files see): the first write of every
  series, a flush after one more request per model, and a scrape that merges both processes'
  files;
- the hot path: ``observe_inference`` per request.

    .venv/bin/python bench/serving/bench_scrape.py --models 10000
"""

from __future__ import annotations

import argparse
import gzip
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from shoal.observability import tracing
from shoal.observability.exposition import MetricsExposition
from shoal.observability.metric_sources import (
    ProcessSource,
    UsageSample,
    UsageSource,
    cache_families,
)
from shoal.observability.metrics import ServingMetrics, families
from shoal.observability.multiprocess import ProcessDirectory
from shoal.serving.cache_stats import CacheStats


def fill(metrics: ServingMetrics, models: int, requests_per_model: int) -> None:
    for i in range(models):
        for n in range(requests_per_model):
            trace = tracing.RequestTrace("POST", "/v2/models/t/m/infer", [], infer=True)
            trace.model = f"t{i:05d}/m"
            trace.cache = "miss" if n == 0 else "hit"
            trace.wait_s = 0.004 if n == 0 else 0.0
            trace.model_s = 0.00002 * (1 + n % 7)
            # One model in 25 answers a 4xx, one in 50 a 5xx: most have only a 2xx series.
            status = 200 if n or i % 25 else (500 if i % 50 == 0 else 400)
            metrics.observe_inference(trace, status, 0.001 + 0.0003 * (n % 11))
        metrics.observe_load(0.003 + (i % 13) * 0.001)


def stats(models: int) -> CacheStats:
    return CacheStats(
        budget_bytes=1 << 30,
        resident_bytes=900 << 20,
        reserved_bytes=0,
        resident_models=models // 2,
        loading_models=0,
        pinned_models=0,
        hits=models * 9,
        misses=models,
        hit_ratio=0.9,
        loads=models,
        load_failures=0,
        evictions=models // 2,
        load_seconds_total=models * 0.005,
        wait_seconds_total=models * 0.004,
        mean_age_at_eviction_s=30.0,
        max_age_at_eviction_s=300.0,
    )


def usage_source(plans: int) -> UsageSource:
    samples = [
        UsageSample(f"t{i:05d}", window, used=i * 10, limit=100_000)
        for i in range(plans)
        for window in ("day", "month")
    ]
    source = UsageSource(lambda: samples)
    source._usage.refresh_now()
    return source


def median_ms(action: Callable[[], object], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        began = time.perf_counter()
        action()
        times.append(time.perf_counter() - began)
    return statistics.median(times) * 1000


def exposition(models: int, plans: int, folder: ProcessDirectory | None) -> MetricsExposition:
    metrics = ServingMetrics(max_models=10_000)
    fill(metrics, models, 3)
    snapshot = stats(models)
    sources = [lambda: cache_families(snapshot), ProcessSource().families]
    if plans:
        sources.append(usage_source(plans).families)
    return MetricsExposition(metrics, sources, folder)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=10_000)
    parser.add_argument("--plans", type=int, default=1_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    single = exposition(args.models, args.plans, None)
    loop_ms = median_ms(single._read, args.rounds)
    snapshot, extra = single._read()
    render_ms = median_ms(lambda: single._render(snapshot, extra, False), args.rounds)
    gzip_ms = median_ms(lambda: single._render(snapshot, extra, True), args.rounds)
    text = single.render_now()
    packed = gzip.compress(text, compresslevel=1)
    series = sum(1 for line in text.splitlines() if line and not line.startswith(b"#"))
    print(f"{args.models:,} models, {args.plans:,} plan subjects, median of {args.rounds}")
    print(f"  one process: {series:,} series, {len(text):,} bytes ({len(packed):,} gzipped)")
    print(f"    on the event loop (copy counters, read sources): {loop_ms:6.1f} ms")
    print(f"    on a worker thread (families + text):            {render_ms:6.1f} ms")
    print(f"    ... with gzip (level 1):                         {gzip_ms:6.1f} ms")

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        first = exposition(args.models, args.plans, ProcessDirectory(folder, "1-1"))
        second = exposition(args.models, args.plans, ProcessDirectory(folder, "2-2"))
        began = time.perf_counter()
        first.render_now()  # its first write of every series
        second.render_now()
        first_write_ms = (time.perf_counter() - began) * 1000 / 2
        fill(second.serving, args.models, 1)  # one more request for every model
        flush_ms = median_ms(lambda: second._write(*second._read()), 1)
        scrape_ms = median_ms(first.render_now, args.rounds)
        merged = first.render_now()
        files = sum(path.stat().st_size for path in folder.iterdir())
        print(f"  two processes sharing a folder ({files:,} bytes of files):")
        print(f"    first write of every series, per process:        {first_write_ms:6.1f} ms")
        print(f"    flush after one request per model:               {flush_ms:6.1f} ms")
        print(f"    scrape (flush own + merge both + text):          {scrape_ms:6.1f} ms")
        print(f"    {len(merged):,} bytes")

    hot = ServingMetrics()
    trace = tracing.RequestTrace("POST", "/v2/models/t/m/infer", [], infer=True)
    trace.model, trace.cache, trace.model_s = "t00001/m", "hit", 0.00002
    count = 200_000
    began = time.perf_counter()
    for _ in range(count):
        hot.observe_inference(trace, 200, 0.0012)
    per_request = (time.perf_counter() - began) / count * 1e6
    print(f"  hot path: observe_inference {per_request:.2f} µs a request")
    assert families  # the module's family builder is what render uses


if __name__ == "__main__":
    main()
