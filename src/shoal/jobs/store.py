"""The role notebook jobs need from storage; ``shoal.storage`` implements it in SQL."""

from __future__ import annotations

from typing import Protocol

from shoal.errors import NotFoundError
from shoal.jobs.records import Job, JobOutcome, JobQuery
from shoal.registry.records import Page, PageRequest


class JobStore(Protocol):
    """Job records. Each method is one atomic transaction."""

    def add_job(self, job: Job) -> Job:
        """Record a new job (running); ``ConflictError`` if the id is taken."""
        ...

    def finish_job(self, job_id: str, outcome: JobOutcome) -> Job:
        """Record how a running job ended; ``NotFoundError`` if unknown, ``ConflictError`` if
        it has finished already."""
        ...

    def find_job(self, job_id: str) -> Job | None: ...

    def list_jobs(self, query: JobQuery, page: PageRequest) -> Page[Job]:
        """Jobs newest first (by created_at, then id)."""
        ...


def job_missing(job_id: str) -> NotFoundError:
    return NotFoundError(f"job {job_id!r} does not exist")
