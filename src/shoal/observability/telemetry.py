"""``Telemetry``: what a server records about each request, and its periodic upkeep.

The HTTP edge calls ``begin`` when a request arrives and ``finish`` when it has been answered;
``finish`` hands the request to the metrics (always), the access log and the trace exporter
(when configured). ``start`` runs the server's background upkeep: write out the access log every
second and, with a shared metrics folder, this process's metrics every five.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from opentelemetry.sdk.trace.export import SpanExporter

from shoal.observability import tracing
from shoal.observability.access_log import AccessLog
from shoal.observability.exposition import MetricsExposition, Source
from shoal.observability.health import Probe, Readiness
from shoal.observability.metric_sources import (
    CacheReport,
    DiskSource,
    ProcessSource,
    UsageSample,
    UsageSource,
    cache_families,
)
from shoal.observability.metrics import ServingMetrics
from shoal.observability.multiprocess import ProcessDirectory
from shoal.observability.trace_export import TraceExporter
from shoal.observability.tracing import Headers, RequestTrace

logger = logging.getLogger(__name__)

METRICS_EVERY = 5
"""Ticks (seconds) between writes of this process's metrics to the shared folder: another
process's scrape sees them at most this old (a scrape always writes its own process first).
Writing 10,000 changed models costs ~100 ms of a worker thread, so not every second."""

SWEEP_EVERY = 60
"""Ticks between sweeps of dead processes' gauge files (multiprocess mode)."""


@dataclass(frozen=True, slots=True)
class ScrapeAccess:
    """Who may read ``/metrics`` besides an admin key: a bearer token, and/or loopback callers."""

    token: str | None = None
    loopback: bool = False


class Telemetry:
    """Metrics, traces, access logs and readiness of one server process."""

    def __init__(
        self,
        metrics: MetricsExposition,
        readiness: Readiness,
        *,
        traces: TraceExporter | None = None,
        access_log: AccessLog | None = None,
        scrape: ScrapeAccess = ScrapeAccess(),
        tick_s: float = 1.0,
    ) -> None:
        self.metrics = metrics
        self.readiness = readiness
        self.traces = traces
        self.access_log = access_log
        self.scrape = scrape
        self._serving: ServingMetrics = metrics.serving
        if traces is not None:
            metrics.add_source(traces.families)
        if access_log is not None:
            metrics.add_source(access_log.families)
        self._tick_s = tick_s
        self._task: asyncio.Task[None] | None = None

    @classmethod
    def for_server(
        cls,
        cache_stats: Callable[[], CacheReport],
        *,
        probes: Mapping[str, Probe] | None = None,
        ready_ttl_s: float = 5.0,
        usage: Callable[[], list[UsageSample]] | None = None,
        package_cache: Path | None = None,
        metrics_dir: Path | None = None,
        max_models: int = 10_000,
        span_exporter: SpanExporter | None = None,
        sample_rate: float = 0.01,
        access_log: AccessLog | None = None,
        scrape: ScrapeAccess = ScrapeAccess(),
    ) -> Telemetry:
        """A server's telemetry from plain parts (``wiring.build_telemetry`` maps settings)."""
        sources: list[Source] = [lambda: cache_families(cache_stats()), ProcessSource().families]
        if package_cache is not None:
            sources.append(DiskSource(package_cache).families)
        if usage is not None:
            sources.append(UsageSource(usage, max_subjects=max_models).families)
        directory = ProcessDirectory(metrics_dir) if metrics_dir is not None else None
        exposition = MetricsExposition(ServingMetrics(max_models), sources, directory)
        traces = None
        if span_exporter is not None:
            traces = TraceExporter.batching(span_exporter, sample_rate)
        return cls(
            exposition,
            Readiness(probes or {}, ttl_s=ready_ttl_s),
            traces=traces,
            access_log=access_log,
            scrape=scrape,
        )

    def begin(self, method: str, path: str, headers: Headers, *, infer: bool) -> RequestTrace:
        self._serving.in_flight += 1
        return tracing.begin(method, path, headers, infer=infer)

    def finish(self, trace: RequestTrace, status: int, route: str) -> None:
        ended = tracing.end(trace)
        serving = self._serving
        serving.in_flight -= 1
        latency_s = (ended - trace.started_ns) / 1e9
        if trace.infer:
            serving.observe_inference(trace, status, latency_s)
        else:
            serving.observe_api(status)
        trace_id = None
        if self.traces is not None:
            trace_id = self.traces.offer(trace, status, ended, route)
        if self.access_log is not None:
            self.access_log.write(trace, status, latency_s, route, trace_id)

    def start(self) -> None:
        """Start the periodic upkeep (on the running loop)."""
        directory = self.metrics.directory
        if directory is not None:
            directory.sweep()
        self._task = asyncio.create_task(self._run(), name="shoal-telemetry")

    async def _run(self) -> None:
        ticks = 0
        directory = self.metrics.directory
        while True:
            await asyncio.sleep(self._tick_s)
            ticks += 1
            try:
                if self.access_log is not None:
                    self.access_log.flush()
                if directory is not None and ticks % METRICS_EVERY == 0:
                    await self.metrics.flush()
                if directory is not None and ticks % SWEEP_EVERY == 0:
                    await asyncio.to_thread(directory.sweep)
            except Exception:  # telemetry upkeep must never stop the server
                logger.warning("telemetry upkeep failed", exc_info=True)

    async def _flush(self) -> None:
        if self.access_log is not None:
            self.access_log.flush()
        await self.metrics.flush()

    async def close(self) -> None:
        """Stop the upkeep, write what is pending, and leave the live gauges of the group."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        try:
            await self._flush()
        finally:
            if self.access_log is not None:
                self.access_log.close()
            if self.metrics.directory is not None:
                self.metrics.directory.close()
            if self.traces is not None:
                await asyncio.to_thread(self.traces.shutdown)
            self.readiness.close()
