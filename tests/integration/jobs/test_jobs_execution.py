"""Notebook jobs end to end: real papermill kernels, the SQL job store and the artifact store.

Kernels take a second or two to start, so this file runs a handful of tiny notebooks only.
"""

import json
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from shoal.errors import ValidationError
from shoal.jobs import Job, JobQuery, JobService, JobStatus, NotebookRunner
from shoal.storage.artifacts import FsspecArtifactStore
from shoal.storage.engine import create_engine
from shoal.storage.migrate import upgrade
from shoal.storage.sql_jobs import SqlJobStore

PARAMETERS = "day = '2024-01-01'\nn = 3\nnap = 0.0"
BODY = """import time
payload = bytearray(40_000_000)  # ~40 MB, so the peak memory shows it
time.sleep(nap)
result = 10 // (n - 7)
print(day, n, result)"""


def write_notebook(path: Path) -> Path:
    cells = [new_code_cell(PARAMETERS, metadata={"tags": ["parameters"]}), new_code_cell(BODY)]
    notebook = new_notebook(cells=cells)
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    nbformat.write(notebook, path)
    return path


class Recorder:
    def __init__(self) -> None:
        self.finished: list[Job] = []

    def job_finished(self, job: Job) -> None:
        self.finished.append(job)


@pytest.fixture
def notebook(tmp_path: Path) -> Path:
    return write_notebook(tmp_path / "daily.ipynb")


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def jobs(tmp_path: Path, recorder: Recorder) -> JobService:
    engine = create_engine(f"sqlite:///{tmp_path / 'shoal.db'}")
    upgrade(engine)
    artifacts = FsspecArtifactStore(str(tmp_path / "artifacts"))
    return JobService(
        SqlJobStore(engine),
        artifacts,
        NotebookRunner(),
        "ana",
        tmp_path / "work",
        concurrency=2,
        listeners=[recorder],
    )


def test_a_notebook_runs_with_parameters_and_keeps_its_output_and_cost(
    jobs: JobService, notebook: Path, recorder: Recorder
) -> None:
    job = jobs.run(notebook, {"day": "2024-02-01", "n": 9})
    assert job.status is JobStatus.SUCCEEDED, job.error
    assert job.parameters == {"day": "2024-02-01", "n": 9}
    assert job.usage is not None
    assert job.usage.wall_s > 0
    assert job.usage.cpu_s is not None
    assert job.usage.cpu_s > 0
    assert job.usage.peak_memory_bytes is not None
    assert job.usage.peak_memory_bytes > 40_000_000
    executed = json.loads(jobs.output(job.id, "notebook"))
    outputs = [o for c in executed["cells"] for o in c.get("outputs", [])]
    assert any("2024-02-01 9 5" in "".join(o.get("text", "")) for o in outputs)
    assert b"2024-02-01 9 5" in jobs.output(job.id, "html")
    assert jobs.get_job(job.id) == job
    assert recorder.finished == [job]


def test_an_error_cell_fails_the_job_with_the_cell_and_its_traceback(
    jobs: JobService, notebook: Path
) -> None:
    job = jobs.run(notebook, {"n": 7})
    assert job.status is JobStatus.FAILED
    assert job.failed_cell == 1
    assert job.error == "cell 1 raised ZeroDivisionError: integer division or modulo by zero"
    assert job.traceback is not None
    assert "result = 10 // (n - 7)" in job.traceback
    assert "\x1b[" not in job.traceback
    assert job.output_digest is not None  # the failed notebook is kept, error and all


def test_a_job_past_its_max_runtime_is_killed_and_marked_timed_out(
    jobs: JobService, notebook: Path, recorder: Recorder
) -> None:
    job = jobs.run(notebook, {"nap": 60}, max_runtime_s=4)
    assert job.status is JobStatus.TIMED_OUT
    assert job.error is not None
    assert "max runtime of 4 s" in job.error
    assert job.usage is not None
    assert job.usage.wall_s < 30  # killed, not slept through
    assert recorder.finished[-1].status is JobStatus.TIMED_OUT


def test_a_grid_fans_out_in_parallel_and_lists_as_one_batch(
    jobs: JobService, notebook: Path
) -> None:
    points = [{"day": f"2024-01-0{d}", "n": 8} for d in (1, 2, 3)]
    finished = jobs.run_grid(notebook, points, concurrency=2)
    assert [job.parameters["day"] for job in finished] == ["2024-01-01", "2024-01-02", "2024-01-03"]
    assert {job.status for job in finished} == {JobStatus.SUCCEEDED}
    batch = finished[0].batch
    assert batch is not None
    assert {job.batch for job in finished} == {batch}
    listed = jobs.list_jobs(JobQuery(batch=batch)).items
    assert sorted(job.id for job in listed) == sorted(job.id for job in finished)
    # The three runs overlapped: each started before another one finished.
    starts = sorted(job.started_at for job in finished if job.started_at)
    ends = sorted(job.finished_at for job in finished if job.finished_at)
    assert starts[1] < ends[0]


def test_an_unknown_parameter_is_refused_before_any_job_runs(
    jobs: JobService, notebook: Path
) -> None:
    with pytest.raises(
        ValidationError, match="no parameter 'dya'; its parameters are: day, n, nap"
    ):
        jobs.run_grid(notebook, [{"day": "2024-01-01"}, {"dya": "2024-01-02"}])
    assert jobs.list_jobs().items == ()
