"""``SqlJobStore``: notebook job records in SQLite or PostgreSQL.

Jobs list newest first by (created_at, id) with keyset cursors. A job is inserted when it
starts and updated once when it ends; the update only touches a running job, so a job cannot
be finished twice.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from shoal.errors import ConflictError, ValidationError
from shoal.jobs.records import Job, JobOutcome, JobQuery, JobStatus, Usage
from shoal.jobs.store import job_missing
from shoal.registry.records import Page, PageRequest
from shoal.storage import registry_rules as rules
from shoal.storage.sql_store import SqlStore
from shoal.storage.tables import jobs


class SqlJobStore(SqlStore):
    """A ``JobStore`` over a migrated database."""

    def add_job(self, job: Job) -> Job:
        values = {
            "id": job.id,
            "batch": job.batch,
            "notebook": job.notebook,
            "notebook_digest": job.notebook_digest,
            "parameters": dict(job.parameters),
            "status": JobStatus(job.status).value,
            "actor": job.actor,
            "created_at": rules.as_utc(job.created_at, "created_at"),
            "started_at": job.started_at and rules.as_utc(job.started_at, "started_at"),
            "finished_at": None,
            "max_runtime_s": job.max_runtime_s,
        }
        with self._write() as conn:
            try:
                with conn.begin_nested():
                    conn.execute(sa.insert(jobs), values)
            except IntegrityError as exc:
                raise ConflictError(f"job {job.id!r} already exists") from exc
            row = conn.execute(sa.select(jobs).where(jobs.c.id == job.id)).one()
        return _job(row)

    def finish_job(self, job_id: str, outcome: JobOutcome) -> Job:
        if not outcome.status.finished:
            raise ValidationError(f"a job cannot finish as {outcome.status.value!r}")
        values = {
            "status": outcome.status.value,
            "finished_at": rules.as_utc(outcome.finished_at, "finished_at"),
            "wall_s": outcome.usage.wall_s,
            "cpu_s": outcome.usage.cpu_s,
            "peak_memory_bytes": outcome.usage.peak_memory_bytes,
            "output_digest": outcome.output_digest,
            "html_digest": outcome.html_digest,
            "error": outcome.error,
            "failed_cell": outcome.failed_cell,
            "traceback": outcome.traceback,
        }
        with self._write() as conn:
            updated = conn.execute(
                sa.update(jobs)
                .where(jobs.c.id == job_id, jobs.c.status == JobStatus.RUNNING.value)
                .values(**values)
            )
            row = conn.execute(sa.select(jobs).where(jobs.c.id == job_id)).first()
            if row is None:
                raise job_missing(job_id)
            if updated.rowcount == 0:
                raise ConflictError(f"job {job_id!r} has finished already ({row.status})")
        return _job(row)

    def find_job(self, job_id: str) -> Job | None:
        with self._read() as conn:
            row = conn.execute(sa.select(jobs).where(jobs.c.id == job_id)).first()
        return None if row is None else _job(row)

    def list_jobs(self, query: JobQuery, page: PageRequest) -> Page[Job]:
        after = rules.page_key(page, str, str)
        select = (
            sa.select(jobs)
            .order_by(jobs.c.created_at.desc(), jobs.c.id.desc())
            .limit(page.limit + 1)
        )
        if after is not None:
            at, job_id = cursor_after(after)
            select = select.where(
                sa.or_(
                    jobs.c.created_at < at,
                    sa.and_(jobs.c.created_at == at, jobs.c.id < job_id),
                )
            )
        if query.status is not None:
            select = select.where(jobs.c.status == JobStatus(query.status).value)
        if query.batch is not None:
            select = select.where(jobs.c.batch == query.batch)
        if query.notebook is not None:
            select = select.where(jobs.c.notebook == query.notebook)
        with self._read() as conn:
            found = [_job(row) for row in conn.execute(select)]
        return rules.page_of(found, page.limit, job_order)


def job_order(job: Job) -> tuple[str, str]:
    """The listing order as a cursor key: (created_at in ISO 8601 UTC, id)."""
    return (job.created_at.isoformat(), job.id)


def cursor_after(key: tuple[str | int, ...]) -> tuple[datetime, str]:
    """The (time, name) a newest-first listing resumes after, from a decoded cursor key."""
    try:
        at = datetime.fromisoformat(str(key[0]))
    except ValueError as exc:
        raise ValidationError(f"page cursor time {key[0]!r} is not ISO 8601") from exc
    if at.tzinfo is None:
        raise ValidationError(f"page cursor time {key[0]!r} has no time zone")
    return at, str(key[1])


def _job(row: Any) -> Job:
    usage = None
    if row.wall_s is not None:
        usage = Usage(row.wall_s, row.cpu_s, row.peak_memory_bytes)
    return Job(
        id=row.id,
        notebook=row.notebook,
        notebook_digest=row.notebook_digest,
        parameters=dict(row.parameters),
        status=JobStatus(row.status),
        actor=row.actor,
        created_at=row.created_at,
        batch=row.batch,
        started_at=row.started_at,
        finished_at=row.finished_at,
        max_runtime_s=row.max_runtime_s,
        usage=usage,
        output_digest=row.output_digest,
        html_digest=row.html_digest,
        error=row.error,
        failed_cell=row.failed_cell,
        traceback=row.traceback,
    )
