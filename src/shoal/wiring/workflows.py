"""Pipelines, notebook jobs, audited queries, schedules and notifications."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from shoal.errors import ValidationError
from shoal.runtimes.base import LoadOptions
from shoal.settings import Settings

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
from shoal.wiring.core import Services, build_services


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
