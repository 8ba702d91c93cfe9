"""``JobService``: run notebooks as tracked jobs — one, or a grid fanned out in parallel.

A job is recorded as running before its kernel starts and finished once with its status,
cost and the executed notebook (plus its HTML) stored as immutable, content-addressed
artifacts. Every point of a grid is checked against the notebook's parameters cell before the
first one runs, so a typo fails fast instead of after an hour of jobs. Listeners hear of every
finished job (notifications); a listener that raises is logged and changes nothing.
"""

from __future__ import annotations

import logging
import shutil
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal, Protocol

from shoal.errors import JobFailedError, NotFoundError, ValidationError
from shoal.jobs.notebooks import Notebook, read_notebook
from shoal.jobs.parameters import describe
from shoal.jobs.records import Job, JobOutcome, JobQuery, JobStatus, ParameterValue, Usage
from shoal.jobs.runner import Execution, NotebookRunner
from shoal.jobs.store import JobStore, job_missing
from shoal.registry.records import Page, PageRequest
from shoal.registry.store import ArtifactStore

logger = logging.getLogger(__name__)

OutputKind = Literal["notebook", "html"]


class JobListener(Protocol):
    """Hears of every finished job, once."""

    def job_finished(self, job: Job) -> None: ...


class JobService:
    """Runs notebooks for ``actor`` and keeps their records and outputs.

    ``concurrency`` bounds how many notebooks of a grid run at once; ``max_runtime_s`` is the
    default limit of a job (None: none). Working files live under ``work_dir`` only while a
    job runs.
    """

    def __init__(
        self,
        store: JobStore,
        artifacts: ArtifactStore,
        runner: NotebookRunner,
        actor: str,
        work_dir: Path,
        concurrency: int = 2,
        max_runtime_s: float | None = None,
        listeners: Sequence[JobListener] = (),
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        if concurrency < 1:
            raise ValidationError(f"job concurrency must be at least 1, got {concurrency}")
        self._store = store
        self._artifacts = artifacts
        self._runner = runner
        self._actor = actor
        self._work_dir = work_dir
        self._concurrency = concurrency
        self._max_runtime_s = max_runtime_s
        self._listeners = tuple(listeners)
        self._clock = clock

    def run(
        self,
        notebook: Path,
        parameters: Mapping[str, ParameterValue] | None = None,
        max_runtime_s: float | None = None,
    ) -> Job:
        """Run one notebook to the end and return its finished record (whatever its status)."""
        return self.run_grid(notebook, [dict(parameters or {})], max_runtime_s)[0]

    def run_grid(
        self,
        notebook: Path,
        points: Sequence[Mapping[str, ParameterValue]],
        max_runtime_s: float | None = None,
        concurrency: int | None = None,
        on_finished: Callable[[Job], None] | None = None,
    ) -> list[Job]:
        """One job per point, at most ``concurrency`` at a time; finished jobs in point order.

        ``ValidationError`` before anything runs if a point names a parameter the notebook
        does not have. ``on_finished`` is called (on a worker thread) as each job ends.
        """
        if not points:
            raise ValidationError("the parameter grid has no points")
        limit = _check_runtime(max_runtime_s if max_runtime_s is not None else self._max_runtime_s)
        workers = min(concurrency or self._concurrency, len(points))
        if workers < 1:
            raise ValidationError(f"job concurrency must be at least 1, got {concurrency}")
        source = read_notebook(notebook)
        bound = [source.bind(point) for point in points]
        batch = uuid.uuid4().hex[:16] if len(bound) > 1 else None
        with ThreadPoolExecutor(workers, thread_name_prefix="shoal-job") as pool:
            futures = [
                pool.submit(self._run_one, source, point, batch, limit, on_finished)
                for point in bound
            ]
            try:
                return [future.result() for future in futures]
            except BaseException:
                # Ctrl-C (or a bug): start nothing more and kill what runs; jobs are recorded.
                _cancel(futures)
                self._runner.stop_all()
                raise

    def get_job(self, job_id: str) -> Job:
        job = self._store.find_job(job_id)
        if job is None:
            raise job_missing(job_id)
        return job

    def list_jobs(
        self, query: JobQuery | None = None, limit: int = 100, cursor: str | None = None
    ) -> Page[Job]:
        return self._store.list_jobs(query or JobQuery(), PageRequest(limit, cursor))

    def output(self, job_id: str, kind: OutputKind = "notebook") -> bytes:
        """The executed notebook (``.ipynb`` JSON) or its HTML rendering, verified."""
        job = self.get_job(job_id)
        digest = job.output_digest if kind == "notebook" else job.html_digest
        if digest is None:
            what = "an executed notebook" if kind == "notebook" else "an HTML rendering"
            raise NotFoundError(f"job {job_id!r} ({job.status.value}) has no {what}")
        return self._artifacts.read_bytes(digest)

    def _run_one(
        self,
        source: Notebook,
        parameters: Mapping[str, ParameterValue],
        batch: str | None,
        max_runtime_s: float | None,
        on_finished: Callable[[Job], None] | None,
    ) -> Job:
        now = self._clock()
        job = self._store.add_job(
            Job(
                id=uuid.uuid4().hex[:16],
                notebook=str(source.path),
                notebook_digest=source.digest,
                parameters=dict(parameters),
                status=JobStatus.RUNNING,
                actor=self._actor,
                created_at=now,
                batch=batch,
                started_at=now,
                max_runtime_s=max_runtime_s,
            )
        )
        logger.info("job %s: %s %s", job.id, source.path.name, describe(parameters))
        work = self._work_dir / job.id
        try:
            execution = self._runner.execute(source, parameters, work, max_runtime_s)
            outcome = self._outcome(execution)
        except Exception as exc:  # keep the record honest: a job never stays "running"
            logger.exception("job %s could not run", job.id)
            outcome = JobOutcome(
                JobStatus.FAILED,
                self._clock(),
                Usage((self._clock() - now).total_seconds(), None, None),
                error=f"{type(exc).__name__}: {exc}",
            )
        finally:
            shutil.rmtree(work, ignore_errors=True)
        finished = self._store.finish_job(job.id, outcome)
        self._announce(finished, on_finished)
        return finished

    def _outcome(self, execution: Execution) -> JobOutcome:
        output = self._artifacts.put_file(execution.notebook) if execution.notebook else None
        html = self._artifacts.put_file(execution.html) if execution.html else None
        cell = execution.cell_error
        error = execution.error
        if cell is not None and cell.cell is not None:
            error = f"cell {cell.cell} raised {cell.error}"
        return JobOutcome(
            status=execution.status,
            finished_at=self._clock(),
            usage=execution.usage,
            output_digest=output.digest if output else None,
            html_digest=html.digest if html else None,
            error=error,
            failed_cell=cell.cell if cell else None,
            traceback=_traceback(cell.source, cell.traceback) if cell else None,
        )

    def _announce(self, job: Job, on_finished: Callable[[Job], None] | None) -> None:
        callbacks: list[Callable[[Job], None]] = [x.job_finished for x in self._listeners]
        if on_finished is not None:
            callbacks.append(on_finished)
        for callback in callbacks:
            try:
                callback(job)
            except Exception:
                logger.exception("a job listener failed on job %s; the job is unaffected", job.id)


def raise_for_status(job: Job) -> Job:
    """``job`` if it succeeded, else ``JobFailedError`` with its error and failing cell."""
    if job.status is JobStatus.SUCCEEDED:
        return job
    message = f"notebook job {job.id} ({Path(job.notebook).name}) {job.status.value}: {job.error}"
    if job.traceback:
        message += "\n" + job.traceback
    raise JobFailedError(message, job)


def _traceback(source: str, traceback: str) -> str:
    cell = "\n".join(f"    {line}" for line in source.splitlines())
    return f"{cell}\n\n{traceback}" if cell else traceback


def _check_runtime(value: float | None) -> float | None:
    if value is not None and not value > 0:
        raise ValidationError(f"max runtime must be more than 0 seconds, got {value}")
    return value


def _cancel(futures: Sequence[Future[Job]]) -> None:
    for future in futures:
        future.cancel()
