"""The composition root: builds every service from ``Settings``; nothing else reads settings."""

from __future__ import annotations

import getpass
import sys
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

from opentelemetry.sdk.trace.export import SpanExporter
from sqlalchemy.engine import Engine

from shoal.access.changes import AccessChangeFeed
from shoal.access.keys import KeyService
from shoal.access.limiter import InMemoryRateLimiter
from shoal.access.plans import PlanService
from shoal.access.service import AccessService
from shoal.access.store import RateLimiter
from shoal.errors import ValidationError
from shoal.observability.access_log import AccessLog
from shoal.observability.capture import DataCapture
from shoal.observability.capture_config import CaptureConfigService
from shoal.observability.metric_sources import UsageSample
from shoal.observability.telemetry import ScrapeAccess, Telemetry
from shoal.observability.trace_export import span_exporter
from shoal.registry.loader import ModelLoader
from shoal.registry.packager import Packager
from shoal.registry.records import PageRequest
from shoal.registry.service import RegistryService
from shoal.registry.store import ArtifactStore, RegistryStore
from shoal.runtimes.base import LoadedModel, LoadOptions
from shoal.runtimes.table import RuntimeTable
from shoal.serving.cache import ModelCache
from shoal.serving.service import InferenceService
from shoal.settings import Settings
from shoal.storage.artifacts import FsspecArtifactStore
from shoal.storage.capture_writer import CaptureFiles, CaptureFormat
from shoal.storage.engine import create_engine
from shoal.storage.migrate import upgrade
from shoal.storage.sql_access import SqlAccessAuditLog, SqlKeyStore, SqlPlanStore
from shoal.storage.sql_capture import SqlCaptureConfigStore
from shoal.storage.sql_registry import SqlRegistryStore

if TYPE_CHECKING:
    from collections.abc import Sequence

    from shoal.jobs.service import JobListener, JobService
    from shoal.notify.notifier import NotificationDispatcher
    from shoal.pipelines.environment import StepEnvironment
    from shoal.pipelines.listeners import RunListener
    from shoal.pipelines.runner import Runner
    from shoal.queries.service import QueryService
    from shoal.scheduling.scheduler import Scheduler
    from shoal.scheduling.service import ScheduleService


ACCESS_ENTRY_TTL_S = 300.0
"""How long a cached key or plan lives when the change feed keeps it fresh (a backstop)."""


@dataclass(frozen=True, slots=True)
class Services:
    """Everything the edges (CLI, client, server) call."""

    registry: RegistryService
    loader: ModelLoader
    store: RegistryStore
    artifacts: ArtifactStore
    runtimes: RuntimeTable
    engine: Engine
    actor: str
    """Who acts by default, as recorded in the audit log."""
    access: AccessService
    capture: CaptureConfigService
    """Data-capture settings per model and tenant."""

    def close(self) -> None:
        self.engine.dispose()


def artifact_options(settings: Settings) -> Mapping[str, object]:
    """fsspec storage options for the artifact URL (S3 endpoint and credentials)."""
    options: dict[str, object] = {}
    if settings.artifact_endpoint_url:
        options["client_kwargs"] = {"endpoint_url": settings.artifact_endpoint_url}
    if settings.artifact_key:
        options["key"] = settings.artifact_key
    if settings.artifact_secret is not None:
        options["secret"] = settings.artifact_secret.get_secret_value()
    return options


def build_services(settings: Settings) -> Services:
    """Open (and migrate) the metadata store and the artifact store named by ``settings``."""
    settings.home.mkdir(parents=True, exist_ok=True)
    engine = create_engine(settings.resolved_metadata_url)
    upgrade(engine)
    store = SqlRegistryStore(engine)
    artifacts = FsspecArtifactStore(
        settings.resolved_artifact_url,
        staging_dir=settings.home / "staging",
        storage_options=artifact_options(settings),
    )
    runtimes = RuntimeTable()
    options = LoadOptions(
        trusted_types=tuple(settings.trusted_types), allow_pickle=settings.allow_pickle
    )
    registry = RegistryService(store, Packager(artifacts, runtimes, options))
    loader = ModelLoader(artifacts, runtimes, settings.cache_dir, options)
    access = build_access(settings, engine, store)
    capture = CaptureConfigService(SqlCaptureConfigStore(engine), store)
    return Services(
        registry,
        loader,
        store,
        artifacts,
        runtimes,
        engine,
        default_actor(settings),
        access,
        capture=capture,
    )


def build_access(settings: Settings, engine: Engine, tenants: RegistryStore) -> AccessService:
    """API keys and usage plans on the metadata store; limits in Redis when it is configured."""
    keys = SqlKeyStore(engine)
    limiter: RateLimiter
    if settings.redis_url:
        try:
            from shoal.storage.redis_limiter import RedisRateLimiter  # an optional extra
        except ImportError as exc:
            raise ValidationError(
                "SHOAL_REDIS_URL needs the redis package: pip install 'shoal[redis]'"
            ) from exc
        limiter = RedisRateLimiter.from_url(settings.redis_url)
    else:
        limiter = InMemoryRateLimiter()
    ttl = settings.key_cache_ttl_s
    # With a change feed, cached keys and plans live long and the feed drops what changed
    # (one query per interval for the whole server); the TTL is only a backstop.
    entry_ttl = max(ttl, ACCESS_ENTRY_TTL_S) if ttl > 0 else 0.0
    audit = SqlAccessAuditLog(engine)
    key_service = KeyService(keys, tenants, ttl_s=entry_ttl, negative_ttl_s=ttl)
    plans = PlanService(SqlPlanStore(engine), limiter, tenants, keys, ttl_s=entry_ttl)
    changes = AccessChangeFeed(audit, key_service, plans, ttl) if ttl > 0 else None
    return AccessService(key_service, plans, audit, changes)


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
    return CaptureFiles(
        settings.resolved_artifact_url,
        artifact_options(settings),
        CaptureFormat(settings.capture_format),
    )


def build_capture(settings: Settings, services: Services) -> DataCapture:
    """Data capture for a server: sampling by the stored settings, files in the artifact store."""
    return DataCapture(
        build_capture_files(settings),
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


def default_actor(settings: Settings) -> str:
    """The configured actor, else the OS user name."""
    if settings.actor:
        return settings.actor
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry inside some containers
        return "unknown"


# -- pipelines: imported on first use, so commands that run no pipeline never load them ------


def build_step_environment(settings: Settings) -> StepEnvironment:
    """What pipeline steps need, built in the process that runs them (a pool or Ray worker)."""
    return _step_environment(settings, build_services(settings))


def _step_environment(settings: Settings, services: Services) -> StepEnvironment:
    from shoal.pipelines.environment import StepEnvironment

    options = LoadOptions(
        trusted_types=tuple(settings.trusted_types), allow_pickle=settings.allow_pickle
    )
    return StepEnvironment(
        artifacts=services.artifacts,
        runtimes=services.runtimes,
        load_options=options,
        scratch=settings.cache_dir / "pipelines",
        registry=services.registry,
        actor=services.actor,
    )


def build_run_listeners(settings: Settings, services: Services) -> list[RunListener]:
    """Told once when a pipeline run ends (succeeded or failed)."""
    from shoal.jobs.notifications import RunNotifier

    notifier = build_notifier(settings)
    return [RunNotifier(notifier, settings.notify_on_success)] if notifier else []


def build_runner(
    settings: Settings, services: Services, listeners: Sequence[RunListener] | None = None
) -> Runner:
    """The pipeline runner on the metadata store, with the local and Ray executors by name."""
    import functools
    import os
    import weakref

    from shoal.pipelines.executors.local import LocalExecutor
    from shoal.pipelines.executors.ray import RayStepExecutor
    from shoal.pipelines.runner import ExecutorFactory, Runner
    from shoal.storage.sql_runs import SqlRunStore

    env = _step_environment(settings, services)
    factory = functools.partial(build_step_environment, settings)
    executors: dict[str, ExecutorFactory] = {
        "local": functools.partial(
            LocalExecutor, factory, settings.pipeline_workers, settings.pipeline_pool, env
        ),
        "ray": functools.partial(RayStepExecutor, factory, settings.ray_address),
    }
    # Forked pool workers must not reuse the parent's pooled connections (SQLAlchemy's advice).
    engine_ref = weakref.ref(services.engine)

    def _forget_connections() -> None:
        engine = engine_ref()
        if engine is not None:
            engine.dispose(close=False)

    os.register_at_fork(after_in_child=_forget_connections)
    return Runner(
        SqlRunStore(services.engine),
        env,
        executors,
        settings.pipeline_executor,
        build_run_listeners(settings, services) if listeners is None else listeners,
        services.actor,
    )


# -- notebook jobs, data queries, schedules, notifications: imported on first use ------------


def build_notifier(settings: Settings) -> NotificationDispatcher | None:
    """Webhook and email notifiers from the settings, behind retries; None if none is set."""
    from shoal.notify.email import EmailNotifier
    from shoal.notify.notifier import NotificationDispatcher, Notifier
    from shoal.notify.webhook import WebhookNotifier

    notifiers: list[Notifier] = []
    if settings.notify_webhook_url is not None:
        notifiers.append(WebhookNotifier(settings.notify_webhook_url.get_secret_value()))
    if settings.notify_email_to:
        if not settings.smtp_host:
            raise ValidationError("SHOAL_NOTIFY_EMAIL_TO needs SHOAL_SMTP_HOST")
        password = settings.smtp_password
        notifiers.append(
            EmailNotifier(
                settings.smtp_host,
                settings.smtp_port,
                settings.notify_email_from,
                settings.notify_email_to,
                username=settings.smtp_user,
                password=password.get_secret_value() if password is not None else None,
                starttls=settings.smtp_starttls,
            )
        )
    if not notifiers:
        return None
    return NotificationDispatcher(
        notifiers, retries=settings.notify_retries, backoff_s=settings.notify_backoff_s
    )


def job_environment(settings: Settings, services: Services) -> dict[str, str]:
    """What a notebook's kernel needs to reach the same Shoal (``open_queries()``, a Client)."""
    env = {"SHOAL_HOME": str(settings.home), "SHOAL_ACTOR": services.actor}
    if settings.metadata_url:
        env["SHOAL_METADATA_URL"] = settings.metadata_url
    if settings.artifact_url:
        env["SHOAL_ARTIFACT_URL"] = settings.artifact_url
    if settings.data_dir:
        env["SHOAL_DATA_DIR"] = str(settings.data_dir)
    return env


def build_jobs(
    settings: Settings, services: Services, listeners: Sequence[JobListener] | None = None
) -> JobService:
    """Notebook jobs on the metadata and artifact stores; the notifier hears of failures."""
    from shoal.jobs.notifications import JobNotifier
    from shoal.jobs.runner import NotebookRunner
    from shoal.jobs.service import JobService
    from shoal.storage.sql_jobs import SqlJobStore

    if listeners is None:
        notifier = build_notifier(settings)
        listeners = [JobNotifier(notifier, settings.notify_on_success)] if notifier else []
    return JobService(
        SqlJobStore(services.engine),
        services.artifacts,
        NotebookRunner(settings.job_kernel, job_environment(settings, services)),
        services.actor,
        settings.home / "jobs",
        concurrency=settings.job_concurrency,
        max_runtime_s=settings.job_max_runtime_s,
        listeners=listeners,
    )


def build_queries(
    settings: Settings, services: Services, artifact_tables: Mapping[str, str] | None = None
) -> QueryService:
    """Audited SQL over the data folder and the named artifact tables (name -> digest)."""
    from shoal.queries.catalog import DataCatalog
    from shoal.queries.service import QueryService
    from shoal.storage.sql_query_log import SqlQueryLog

    catalog = DataCatalog(
        settings.resolved_data_dir,
        services.artifacts,
        artifact_tables,
        settings.cache_dir / "tables",
    )
    return QueryService(catalog, SqlQueryLog(services.engine), services.actor)


def open_queries(
    settings: Settings | None = None, artifact_tables: Mapping[str, str] | None = None
) -> QueryService:
    """Audited SQL from a notebook or a step: ``open_queries().sql("SELECT ...").frame``.

    Reads the same settings as the CLI (``SHOAL_*``, which a notebook job's kernel inherits).
    """
    settings = settings or Settings()
    return build_queries(settings, build_services(settings), artifact_tables)


def build_schedules(settings: Settings, services: Services) -> ScheduleService:
    """Schedules on the metadata store; ``add`` loads the pipeline to check it and its params."""
    from shoal.scheduling.service import ScheduleService, load_and_bind
    from shoal.storage.sql_schedules import SqlScheduleStore

    return ScheduleService(SqlScheduleStore(services.engine), services.actor, load_and_bind)


def build_scheduler(
    settings: Settings, services: Services, global_options: Sequence[str] = ()
) -> Scheduler:
    """A scheduler whose runs are ``shoal [global_options] pipelines run`` processes."""
    from shoal.scheduling.launcher import SubprocessLauncher
    from shoal.scheduling.scheduler import Scheduler
    from shoal.storage.sql_schedules import SqlScheduleStore

    launcher = SubprocessLauncher(settings.home / "logs" / "schedules", global_options)
    return Scheduler(
        SqlScheduleStore(services.engine),
        launcher,
        grace_s=settings.schedule_grace_s,
        notifier=build_notifier(settings),
    )
