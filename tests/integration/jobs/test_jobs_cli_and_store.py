"""``shoal jobs`` commands, and the SQL job store on SQLite and PostgreSQL."""

import json
import stat
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import nbformat
import pytest
import sqlalchemy as sa
from nbformat.v4 import new_code_cell, new_notebook
from typer.testing import CliRunner

from shoal.cli.main import app
from shoal.errors import ConflictError, NotFoundError
from shoal.jobs import Job, JobOutcome, JobQuery, JobStatus, Usage
from shoal.registry.records import PageRequest
from shoal.storage.engine import create_engine
from shoal.storage.migrate import upgrade
from shoal.storage.sql_jobs import SqlJobStore
from shoal.storage.tables import jobs

AT = datetime(2024, 3, 1, 12, tzinfo=UTC)


def test_a_failing_job_run_from_the_cli_shows_its_cell_and_keeps_its_output(
    tmp_path: Path,
) -> None:
    cells = [
        new_code_cell("customer = 'acme'", metadata={"tags": ["parameters"]}),
        new_code_cell("raise RuntimeError(f'no data for {customer}')"),
    ]
    nbformat.write(new_notebook(cells=cells), tmp_path / "score.ipynb")
    runner = CliRunner()
    base = ["--home", str(tmp_path / "home")]
    unknown = runner.invoke(
        app, [*base, "jobs", "run", str(tmp_path / "score.ipynb"), "-p", "cust=x"]
    )
    assert unknown.exit_code == 2
    assert "no parameter 'cust'; its parameters are: customer" in unknown.output
    run = runner.invoke(
        app, [*base, "jobs", "run", str(tmp_path / "score.ipynb"), "-p", "customer=globex"]
    )
    assert run.exit_code == 1, run.output
    assert "cell 1 raised RuntimeError: no data for globex" in run.output
    assert "raise RuntimeError(f'no data for {customer}')" in run.output
    listed = json.loads(runner.invoke(app, [*base, "jobs", "list", "-o", "json"]).stdout)
    [job] = listed["items"]
    assert (job["status"], job["parameters"], job["failed_cell"]) == (
        "failed",
        {"customer": "globex"},
        1,
    )
    shown = runner.invoke(app, [*base, "jobs", "show", job["id"]])
    assert "no data for globex" in shown.output
    target = tmp_path / "executed.ipynb"
    saved = runner.invoke(app, [*base, "jobs", "output", job["id"], "--to", str(target)])
    assert saved.exit_code == 0, saved.output
    assert not target.stat().st_mode & stat.S_IWUSR
    executed = nbformat.read(target, as_version=4)
    assert any(
        o.get("ename") == "RuntimeError" for c in executed.cells for o in c.get("outputs", [])
    )


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlJobStore]:
    if request.param == "sqlite":
        engine = create_engine(f"sqlite:///{tmp_path / 'jobs.db'}")
    else:
        engine = create_engine(request.getfixturevalue("postgres_url"))
    upgrade(engine)
    with engine.begin() as conn:
        conn.execute(sa.delete(jobs))
    yield SqlJobStore(engine)
    engine.dispose()


def job(job_id: str, minutes: int, batch: str | None = None) -> Job:
    at = AT + timedelta(minutes=minutes)
    return Job(
        job_id, "nb.ipynb", "0" * 64, {"day": "2024-01-01"}, JobStatus.RUNNING, "ana", at, batch, at
    )


def test_jobs_are_recorded_finished_once_and_listed_newest_first(store: SqlJobStore) -> None:
    for i in range(3):
        store.add_job(job(f"job{i}", i, batch="b1" if i else None))
    outcome = JobOutcome(
        JobStatus.TIMED_OUT, AT + timedelta(hours=1), Usage(3600.0, 12.5, 1 << 30), error="late"
    )
    finished = store.finish_job("job1", outcome)
    assert finished.status is JobStatus.TIMED_OUT
    assert finished.usage == Usage(3600.0, 12.5, 1 << 30)
    assert finished.parameters == {"day": "2024-01-01"}
    with pytest.raises(ConflictError, match="has finished already"):
        store.finish_job("job1", outcome)
    with pytest.raises(NotFoundError, match="job 'nope' does not exist"):
        store.finish_job("nope", outcome)
    first = store.list_jobs(JobQuery(), PageRequest(2))
    assert [j.id for j in first.items] == ["job2", "job1"]
    rest = store.list_jobs(JobQuery(), PageRequest(2, first.next_cursor))
    assert [j.id for j in rest.items] == ["job0"]
    assert [j.id for j in store.list_jobs(JobQuery(batch="b1"), PageRequest(10)).items] == [
        "job2",
        "job1",
    ]
    timed_out = store.list_jobs(JobQuery(status=JobStatus.TIMED_OUT), PageRequest(10)).items
    assert [j.id for j in timed_out] == ["job1"]
    with pytest.raises(ConflictError, match="job 'job0' already exists"):
        store.add_job(job("job0", 9))
