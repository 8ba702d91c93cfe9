"""What jobs and pipeline runs tell the notifiers: failures and timeouts, successes if asked.

``JobNotifier`` is a ``JobListener`` and ``RunNotifier`` a pipelines ``RunListener``; both turn a
finished record into a ``Notification`` and hand it to a ``NotificationDispatcher``, which
retries and never raises, so a notification can never fail the job or run it reports.
"""

from __future__ import annotations

from pathlib import Path

from shoal.jobs.records import Job, JobStatus
from shoal.notify.notifier import NotificationDispatcher
from shoal.notify.records import Level, Notification
from shoal.pipelines.records import RunRecord, RunStatus

MAX_ERROR = 2000


class JobNotifier:
    """Tells ``dispatcher`` of failed and timed-out jobs (and succeeded ones if ``on_success``)."""

    def __init__(self, dispatcher: NotificationDispatcher, on_success: bool = False) -> None:
        self._dispatcher = dispatcher
        self._on_success = on_success

    def job_finished(self, job: Job) -> None:
        if job.status is JobStatus.SUCCEEDED and not self._on_success:
            return
        self._dispatcher.send(job_notification(job))


class RunNotifier:
    """Tells ``dispatcher`` of failed pipeline runs (and succeeded ones if ``on_success``)."""

    def __init__(self, dispatcher: NotificationDispatcher, on_success: bool = False) -> None:
        self._dispatcher = dispatcher
        self._on_success = on_success

    def run_finished(self, run: RunRecord) -> None:
        if run.status is RunStatus.SUCCEEDED and not self._on_success:
            return
        self._dispatcher.send(run_notification(run))


def job_notification(job: Job) -> Notification:
    name = Path(job.notebook).name
    words = {
        JobStatus.SUCCEEDED: ("succeeded", Level.SUCCESS),
        JobStatus.FAILED: ("failed", Level.FAILURE),
        JobStatus.TIMED_OUT: ("timed out", Level.FAILURE),
        JobStatus.RUNNING: ("is running", Level.WARNING),
    }
    verb, level = words[job.status]
    facts = {"job": job.id, "notebook": job.notebook, "by": job.actor}
    if job.parameters:
        facts["parameters"] = " ".join(f"{k}={v}" for k, v in job.parameters.items())
    if job.usage is not None:
        facts["wall time"] = f"{job.usage.wall_s:.1f} s"
    if job.failed_cell is not None:
        facts["cell"] = str(job.failed_cell)
    text = (job.error or "") + ("\n" + job.traceback if job.traceback else "")
    return Notification(
        title=f"notebook job {name} {verb}",
        text=_clip(text) or f"job {job.id} {verb}",
        level=level,
        facts=facts,
    )


def run_notification(run: RunRecord) -> Notification:
    succeeded = run.status is RunStatus.SUCCEEDED
    facts = {"run": run.id, "pipeline": run.reference or run.pipeline, "by": run.created_by}
    if run.params:
        facts["parameters"] = " ".join(f"{k}={v}" for k, v in run.params.items())
    if run.finished_at is not None:
        facts["duration"] = f"{(run.finished_at - run.created_at).total_seconds():.1f} s"
    return Notification(
        title=f"pipeline {run.pipeline} {'succeeded' if succeeded else 'failed'}",
        text=_clip(run.error) or f"run {run.id} {run.status.value}",
        level=Level.SUCCESS if succeeded else Level.FAILURE,
        facts=facts,
    )


def _clip(text: str) -> str:
    text = text.strip()
    return text if len(text) <= MAX_ERROR else "…" + text[-MAX_ERROR:]
