"""The composition root: builds every service from ``Settings``; nothing else reads settings.

``core`` opens the stores and the registry and access services every command needs;
``serving`` builds the endpoint's stack (cache, inference, capture, telemetry); ``workflows``
builds pipelines, notebook jobs, queries, schedules and notifications.
"""

from shoal.wiring.core import (
    ACCESS_ENTRY_TTL_S,
    Services,
    artifact_options,
    build_access,
    build_services,
    default_actor,
)
from shoal.wiring.serving import (
    build_capture,
    build_capture_files,
    build_inference,
    build_telemetry,
)
from shoal.wiring.workflows import (
    build_jobs,
    build_notifier,
    build_queries,
    build_run_listeners,
    build_runner,
    build_scheduler,
    build_schedules,
    build_step_environment,
    job_environment,
    open_queries,
)

__all__ = [
    "ACCESS_ENTRY_TTL_S",
    "Services",
    "artifact_options",
    "build_access",
    "build_capture",
    "build_capture_files",
    "build_inference",
    "build_jobs",
    "build_notifier",
    "build_queries",
    "build_run_listeners",
    "build_runner",
    "build_scheduler",
    "build_schedules",
    "build_services",
    "build_step_environment",
    "build_telemetry",
    "default_actor",
    "job_environment",
    "open_queries",
]
