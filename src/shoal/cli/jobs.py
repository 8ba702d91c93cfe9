"""``shoal jobs run|list|show|output``: notebooks run as tracked jobs, fanned out over grids."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Annotated

import typer

from shoal.cli.output import (
    OutputFormat,
    OutputOption,
    command_group,
    console,
    errors,
    print_json,
    print_listing,
    print_rows,
    short_time,
)
from shoal.cli.state import client, state
from shoal.errors import ValidationError
from shoal.jobs.parameters import describe, expand, parse_assignments, read_grid
from shoal.jobs.records import Job, JobQuery, JobStatus
from shoal.jobs.service import JobService
from shoal.wiring import build_jobs

app = command_group("Notebook jobs: run notebooks with parameters, in parallel.")

_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(s|m|h)?")


def parse_duration(text: str) -> float:
    """``90``, ``90s``, ``10m`` or ``2h`` in seconds."""
    match = _DURATION.fullmatch(text.strip())
    if not match or float(match[1]) <= 0:
        raise ValidationError(f"max runtime {text!r} must look like 90, 90s, 10m or 2h")
    return float(match[1]) * {"s": 1, "m": 60, "h": 3600}[match[2] or "s"]


def human_bytes(size: int | None) -> str:
    if size is None:
        return ""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


def _seconds(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}s"


def _params(job: Job) -> str:
    return " ".join(f"{k}={v}" for k, v in job.parameters.items())


def _row(job: Job) -> list[object]:
    usage = job.usage
    return [
        job.id,
        job.status.value,
        Path(job.notebook).name,
        _params(job),
        _seconds(usage.wall_s if usage else None),
        _seconds(usage.cpu_s if usage else None),
        human_bytes(usage.peak_memory_bytes if usage else None),
        short_time(job.created_at),
        (job.error or "")[:80],
    ]


COLUMNS = ["id", "status", "notebook", "parameters", "wall", "cpu", "peak mem", "started", "error"]


def _jobs(ctx: typer.Context) -> JobService:
    return build_jobs(state(ctx).settings(), client(ctx).services)


@app.command("run")
def run(
    ctx: typer.Context,
    notebook: Annotated[Path, typer.Argument(help="The notebook (.ipynb) to run.")],
    param: Annotated[
        list[str] | None,
        typer.Option(
            "--param",
            "-p",
            help="key=value; a range (2024-01-01..2024-01-31, 1..5) or a list (a,b,c) fans out.",
        ),
    ] = None,
    grid: Annotated[
        Path | None, typer.Option(help="A .json or .csv file of parameter points to fan out over.")
    ] = None,
    max_runtime: Annotated[
        str | None, typer.Option(help="Kill the kernel past this (90s, 10m, 2h).")
    ] = None,
    concurrency: Annotated[
        int | None, typer.Option(min=1, help="Notebooks running at once [SHOAL_JOB_CONCURRENCY].")
    ] = None,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Run a notebook as a job (one per grid point); exits 1 if any job did not succeed."""
    points = expand(parse_assignments(param or []), read_grid(grid) if grid else None)
    limit = parse_duration(max_runtime) if max_runtime else None
    service = _jobs(ctx)

    def finished(job: Job) -> None:
        if output is OutputFormat.TABLE and len(points) > 1:
            errors.print(
                f"{job.status.value:>9} {job.id} {describe(job.parameters)}", highlight=False
            )

    if output is OutputFormat.TABLE:
        errors.print(f"running {notebook.name}: {len(points)} job(s)", highlight=False)
    jobs = service.run_grid(notebook, points, limit, concurrency, finished)
    if output is OutputFormat.JSON:
        print_json({"items": jobs})
    else:
        print_rows("Jobs", COLUMNS, [_row(job) for job in jobs])
        _print_totals(jobs)
        for job in jobs:
            if job.status is not JobStatus.SUCCEEDED:
                _print_failure(job)
    if any(job.status is not JobStatus.SUCCEEDED for job in jobs):
        raise typer.Exit(1)


def _print_totals(jobs: list[Job]) -> None:
    used = [job.usage for job in jobs if job.usage is not None]
    if len(jobs) < 2 or not used:
        return
    cpu = sum(u.cpu_s or 0 for u in used)
    wall = sum(u.wall_s for u in used)
    peak = max((u.peak_memory_bytes or 0) for u in used)
    ok = sum(job.status is JobStatus.SUCCEEDED for job in jobs)
    console.print(
        f"{ok}/{len(jobs)} succeeded; total wall {wall:.1f}s, CPU {cpu:.1f}s "
        f"({cpu / 3600:.4f} CPU-hours), largest peak memory {human_bytes(peak)}",
        highlight=False,
    )


def _print_failure(job: Job) -> None:
    errors.print(f"\njob {job.id} {job.status.value}: {job.error}", highlight=False, markup=False)
    if job.traceback:
        errors.print(job.traceback, highlight=False, markup=False)


@app.command("list")
def list_(
    ctx: typer.Context,
    status: Annotated[JobStatus | None, typer.Option(help="Only jobs with this status.")] = None,
    batch: Annotated[str | None, typer.Option(help="Only the jobs of one fan-out.")] = None,
    limit: Annotated[int, typer.Option(help="Page size (1-1000).")] = 100,
    cursor: Annotated[str | None, typer.Option(help="Cursor of the next page.")] = None,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """List jobs, newest first."""
    page = _jobs(ctx).list_jobs(JobQuery(status=status, batch=batch), limit, cursor)
    print_listing(output, "Jobs", COLUMNS, page.items, _row, page.next_cursor)


@app.command("show")
def show(
    ctx: typer.Context,
    job_id: Annotated[str, typer.Argument(help="The job's id.")],
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """One job: parameters, status, cost, outputs and, if it failed, the cell and traceback."""
    job = _jobs(ctx).get_job(job_id)
    if output is OutputFormat.JSON:
        print_json(job)
        return
    usage = job.usage
    rows: list[list[object]] = [
        ["id", job.id],
        ["notebook", job.notebook],
        ["notebook sha256", job.notebook_digest],
        ["parameters", _params(job)],
        ["status", job.status.value],
        ["by", job.actor],
        ["started", short_time(job.started_at or job.created_at)],
        ["finished", short_time(job.finished_at) if job.finished_at else ""],
        ["max runtime", _seconds(job.max_runtime_s)],
        ["wall time", _seconds(usage.wall_s if usage else None)],
        ["CPU time", _seconds(usage.cpu_s if usage else None)],
        ["peak memory", human_bytes(usage.peak_memory_bytes if usage else None)],
        ["output notebook", job.output_digest or ""],
        ["output HTML", job.html_digest or ""],
        ["batch", job.batch or ""],
        ["error", job.error or ""],
    ]
    print_rows(f"Job {job.id}", ["field", "value"], rows)
    if job.traceback:
        console.print(job.traceback, highlight=False, markup=False)


@app.command("output")
def output_(
    ctx: typer.Context,
    job_id: Annotated[str, typer.Argument(help="The job's id.")],
    html: Annotated[bool, typer.Option(help="The HTML rendering instead of the .ipynb.")] = False,
    to: Annotated[
        Path | None, typer.Option(help="Write to this file (read-only) instead of stdout.")
    ] = None,
) -> None:
    """The executed notebook (or its HTML) as kept: verified against its digest."""
    data = _jobs(ctx).output(job_id, "html" if html else "notebook")
    if to is None:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return
    if to.exists():
        raise ValidationError(f"{str(to)!r} exists already; choose another file")
    to.write_bytes(data)
    to.chmod(0o444)  # the record of what ran: not to be edited in place
    errors.print(f"wrote {to} ({human_bytes(len(data))})", highlight=False)
