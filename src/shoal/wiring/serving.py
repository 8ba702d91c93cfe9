"""The serving stack: model cache and inference, data capture, telemetry."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from opentelemetry.sdk.trace.export import SpanExporter
from sqlalchemy.engine import Engine

from shoal.access.plans import PlanService
from shoal.observability.access_log import AccessLog
from shoal.observability.capture import CaptureSink, DataCapture
from shoal.observability.metric_sources import UsageSample
from shoal.observability.telemetry import ScrapeAccess, Telemetry
from shoal.observability.trace_export import span_exporter
from shoal.registry.loader import ModelLoader
from shoal.registry.records import PageRequest
from shoal.runtimes.base import LoadedModel, LoadOptions
from shoal.serving.cache import ModelCache
from shoal.serving.service import InferenceService
from shoal.settings import Settings
from shoal.storage.capture_process import CaptureProcess
from shoal.storage.capture_writer import CaptureFiles, CaptureFormat

if TYPE_CHECKING:
    pass
from shoal.wiring.core import Services, artifact_options


def build_inference(settings: Settings, services: Services) -> InferenceService:
    """The serving stack: a memory-budgeted cache over the registry, predictions on threads."""
    options = LoadOptions(
        trusted_types=tuple(settings.trusted_types),
        allow_pickle=settings.allow_pickle,
        prefer_fast=True,
    )
    loader = ModelLoader(services.artifacts, services.runtimes, settings.cache_dir, options)
    executor = ThreadPoolExecutor(settings.inference_threads, thread_name_prefix="shoal-predict")
    cache: ModelCache[LoadedModel] = ModelCache(
        int(settings.memory_budget),
        max_parallel_loads=settings.max_parallel_loads,
        executor=ThreadPoolExecutor(settings.max_parallel_loads, thread_name_prefix="shoal-load"),
    )
    return InferenceService(
        services.registry, loader, cache, executor, resolve_ttl_s=settings.resolve_ttl_s
    )


def build_capture_files(settings: Settings) -> CaptureFiles:
    """The capture files under the artifact store (``<artifacts>/capture/...``)."""
    return CaptureFiles(*_capture_store(settings))


def _capture_store(settings: Settings) -> tuple[str, Mapping[str, object], CaptureFormat]:
    """Where capture files go and how: the arguments of ``CaptureFiles`` (and its process)."""
    return (
        settings.resolved_artifact_url,
        artifact_options(settings),
        CaptureFormat(settings.capture_format),
    )


def build_capture(settings: Settings, services: Services) -> DataCapture:
    """Data capture for a server: sampling by the stored settings, files in the artifact store
    (made in a child process unless ``capture_writer`` is ``thread``)."""
    store = _capture_store(settings)
    sink: CaptureSink = (
        CaptureProcess(*store) if settings.capture_writer == "process" else CaptureFiles(*store)
    )
    return DataCapture(
        sink,
        services.capture.rules,
        queue_size=settings.capture_queue_size,
        queue_bytes=int(settings.capture_queue_bytes),
        file_rows=settings.capture_file_rows,
        flush_interval_s=settings.capture_flush_interval_s,
        rules_ttl_s=settings.capture_config_ttl_s,
    )


def build_telemetry(
    settings: Settings,
    services: Services,
    inference: InferenceService,
    exporter: SpanExporter | None = None,
) -> Telemetry:
    """A server's metrics, traces, access log and readiness probes (``exporter`` overrides
    ``trace_exporter``, e.g. an in-memory one in tests)."""
    token = settings.metrics_token
    return Telemetry.for_server(
        inference.stats,
        probes={
            "metadata": lambda: _ping_metadata(services.engine),
            # A digest nobody stores: False when the store answers, an error when it cannot.
            "artifacts": lambda: services.artifacts.exists("0" * 64),
        },
        ready_ttl_s=settings.ready_check_ttl_s,
        usage=lambda: _plan_usage(services.access.plans),
        package_cache=settings.cache_dir / "packages",
        metrics_dir=settings.metrics_dir,
        max_models=settings.metrics_max_models,
        span_exporter=exporter or span_exporter(settings.trace_exporter, settings.otlp_endpoint),
        sample_rate=settings.trace_sample_rate,
        access_log=_access_log(settings),
        scrape=ScrapeAccess(token.get_secret_value() if token else None, settings.metrics_loopback),
    )


def _ping_metadata(engine: Engine) -> None:
    with engine.connect() as connection:
        connection.exec_driver_sql("SELECT 1")


def _plan_usage(plans: PlanService) -> list[UsageSample]:
    """Used and limit of every plan's quota windows (runs on a background thread)."""
    samples: list[UsageSample] = []
    cursor: str | None = None
    while True:
        page = plans.list_plans(PageRequest(1000, cursor))
        for plan in page.items:
            if plan.quota_per_day is None and plan.quota_per_month is None:
                continue
            for usage in plans.usage_of(plan):  # one query per page of plans, not per plan
                if usage.limit is not None:
                    samples.append(
                        UsageSample(usage.subject, usage.window.value, usage.used, usage.limit)
                    )
        if page.next_cursor is None:
            return samples
        cursor = page.next_cursor


def _access_log(settings: Settings) -> AccessLog | None:
    if not settings.access_log and settings.access_log_file is None:
        return None
    if settings.access_log_file is None:
        return AccessLog(sys.stderr.buffer, owns_stream=False)
    settings.access_log_file.parent.mkdir(parents=True, exist_ok=True)
    return AccessLog(settings.access_log_file.open("ab"))
