"""Notebook jobs: parameterised notebook runs with limits, resource figures and kept outputs."""

from shoal.jobs.notebooks import Notebook, read_notebook
from shoal.jobs.parameters import expand, parse_assignments, read_grid
from shoal.jobs.partitions import map_partitions
from shoal.jobs.records import CellError, Job, JobOutcome, JobQuery, JobStatus, Usage
from shoal.jobs.runner import NotebookRunner
from shoal.jobs.service import JobListener, JobService, raise_for_status
from shoal.jobs.store import JobStore

__all__ = [
    "CellError",
    "Job",
    "JobListener",
    "JobOutcome",
    "JobQuery",
    "JobService",
    "JobStatus",
    "JobStore",
    "Notebook",
    "NotebookRunner",
    "Usage",
    "expand",
    "map_partitions",
    "parse_assignments",
    "raise_for_status",
    "read_grid",
    "read_notebook",
]
