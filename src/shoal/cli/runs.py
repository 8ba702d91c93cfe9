"""``shoal runs list|show|items|logs|compare|resume|rerun``: recorded pipeline runs."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Annotated

import typer
from rich.progress import Progress as RichProgress

from shoal.cli.output import (
    OutputFormat,
    OutputOption,
    command_group,
    console,
    errors,
    key_values,
    print_json,
    print_listing,
    print_rows,
    short_time,
)
from shoal.cli.state import client, state
from shoal.errors import NotFoundError
from shoal.pipelines.dispatch import Progress
from shoal.pipelines.records import ItemStatus, RunQuery, RunRecord, RunStatus
from shoal.pipelines.reports import compare_runs, summarize_steps
from shoal.pipelines.runner import Runner
from shoal.registry.records import PageRequest
from shoal.wiring import build_runner

app = command_group("Pipeline runs: list, inspect, compare, resume, re-run.")

RunArgument = Annotated[str, typer.Argument(help="The run id (shoal runs list).")]
SNAPSHOT_ROWS = 10
"""More snapshots than this are summarised per step and name in ``runs show``."""


def runner(ctx: typer.Context, workers: int | None = None) -> Runner:
    """The runner over this invocation's stores; ``workers`` overrides the pool size."""
    settings = state(ctx).settings()
    if workers is not None:
        settings = settings.model_copy(update={"pipeline_workers": workers})
    return build_runner(settings, client(ctx).services)


def duration(run: RunRecord) -> str:
    if run.finished_at is None:
        return ""
    seconds = (run.finished_at - run.created_at).total_seconds()
    return f"{seconds:.2f} s" if seconds < 10 else f"{seconds:.1f} s"


@contextlib.contextmanager
def progress_bar(output: OutputFormat) -> Iterator[Progress | None]:
    """Items done / known on stderr while a run goes (table output only; JSON stays clean)."""
    if output is OutputFormat.JSON:
        yield None
        return
    with RichProgress(console=errors, transient=True) as bar:
        task = bar.add_task("items", total=None)

        def update(finished: int, known: int) -> None:
            bar.update(task, completed=finished, total=known)

        yield update


def print_outcome(run: RunRecord, output: OutputFormat) -> None:
    """The end of a run (``pipelines run``, ``resume``, ``rerun``); exit 1 when it failed."""
    if output is OutputFormat.JSON:
        print_json({"run_id": run.id, "status": run.status, "error": run.error, "run": run})
    else:
        style = "green" if run.status is RunStatus.SUCCEEDED else "red"
        console.print(
            f"run [bold]{run.id}[/bold] ({run.pipeline}) [{style}]{run.status.value}[/{style}] "
            f"in {duration(run)}",
            highlight=False,
        )
        if run.error:
            console.print(run.error, style="red", markup=False, highlight=False)
    if run.status is not RunStatus.SUCCEEDED:
        raise typer.Exit(1)


@app.command("list")
def list_(
    ctx: typer.Context,
    pipeline: Annotated[str | None, typer.Option(help="Only runs of this pipeline.")] = None,
    status: Annotated[RunStatus | None, typer.Option(help="Only runs in this state.")] = None,
    limit: Annotated[int, typer.Option(help="Page size (1-1000).")] = 100,
    cursor: Annotated[str | None, typer.Option(help="Cursor of the next page.")] = None,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Runs, newest first."""
    page = runner(ctx).store.list_runs(RunQuery(pipeline, status), PageRequest(limit, cursor))

    def row(run: RunRecord) -> list[object]:
        return [
            run.id,
            run.pipeline,
            run.status.value,
            short_time(run.created_at),
            duration(run),
            run.attempts,
            key_values(run.params),
            run.rerun_of or "",
        ]

    columns = ["run", "pipeline", "status", "started", "took", "attempts", "params", "rerun of"]
    print_listing(output, "Pipeline runs", columns, page.items, row, page.next_cursor)


@app.command("show")
def show(
    ctx: typer.Context, run_id: RunArgument, output: OutputOption = OutputFormat.TABLE
) -> None:
    """A run: its parameters, steps (items, timings, metrics, outputs), snapshots and errors."""
    store = runner(ctx).store
    run = _get(store.find_run(run_id), run_id)
    items = store.list_items(run_id)
    steps = summarize_steps(run, store.list_steps(run_id), items)
    snapshots = store.list_snapshots(run_id)
    if output is OutputFormat.JSON:
        print_json({"run": run, "steps": steps, "snapshots": snapshots})
        return
    console.print(
        f"[bold]{run.id}[/bold] {run.pipeline} ({run.reference}) {run.status.value}, "
        f"started {short_time(run.created_at)} by {run.created_by}, took {duration(run) or '-'}, "
        f"attempts {run.attempts}, executor {run.executor}"
        + (f", re-run of {run.rerun_of}" if run.rerun_of else ""),
        highlight=False,
        markup=True,
    )
    console.print(f"params: {key_values(run.params) or '-'}", highlight=False, markup=False)
    rows = []
    for s in steps:
        counts = f"{s.succeeded}/{s.items if s.items is not None else '?'}"
        if s.failed:
            counts += f", {s.failed} failed"
        if s.reused:
            counts += f", {s.reused} reused"
        mean = f"{s.item_seconds_mean * 1000:.1f} ms" if s.item_seconds_mean is not None else ""
        rows.append(
            [
                s.name,
                s.status,
                counts,
                f"{s.seconds:.2f} s" if s.seconds is not None else "",
                mean,
                key_values({k: f"{v:.4g}" for k, v in s.metrics.items()}),
                (s.output or "")[:12],
            ]
        )
    print_rows(
        "Steps", ["step", "status", "items ok", "took", "mean item", "metrics", "output"], rows
    )
    if 0 < len(snapshots) <= SNAPSHOT_ROWS:
        print_rows(
            "Snapshots",
            ["step", "item", "name", "kind", "snapshot", "bytes"],
            [[s.step, s.index, s.name, s.kind.value, s.digest[:12], s.size] for s in snapshots],
        )
    elif snapshots:
        groups: dict[tuple[str, str, str], list[int]] = {}
        for snap in snapshots:
            groups.setdefault((snap.step, snap.name, snap.kind.value), []).append(snap.size)
        print_rows(
            f"Snapshots ({len(snapshots)}; --output json lists each)",
            ["step", "name", "kind", "items", "bytes"],
            [[*key, len(sizes), sum(sizes)] for key, sizes in groups.items()],
        )
    failed = [i for i in items if i.status is ItemStatus.FAILED][:5]
    for item in failed:
        first = item.error.splitlines()[0] if item.error else ""
        console.print(
            f"failed {item.step}[{item.key or item.index}]: {first}",
            style="red",
            markup=False,
            highlight=False,
        )
    if run.error:
        console.print(run.error, style="red", markup=False, highlight=False)


@app.command("items")
def items_(
    ctx: typer.Context,
    run_id: RunArgument,
    step: Annotated[str | None, typer.Option(help="Only this step's items.")] = None,
    status: Annotated[ItemStatus | None, typer.Option(help="Only items in this state.")] = None,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Recorded items of a run (items not listed have not finished yet)."""
    store = runner(ctx).store
    _get(store.find_run(run_id), run_id)
    found = [i for i in store.list_items(run_id, step) if status is None or i.status is status]
    if output is OutputFormat.JSON:
        print_json({"items": [_item_json(i) for i in found], "next_cursor": None})
        return
    print_rows(
        f"Items of {run_id}",
        ["step", "item", "key", "status", "attempts", "ms", "metrics", "output", "error"],
        [
            [
                i.step,
                i.index,
                i.key,
                i.status.value,
                i.attempts,
                f"{(i.finished_at - i.started_at).total_seconds() * 1000:.1f}",
                key_values({k: f"{v:.4g}" for k, v in i.metrics.items()}),
                i.output.digest[:12] if i.output else "",
                i.error.splitlines()[0] if i.error else "",
            ]
            for i in found
        ],
    )


def _item_json(item: object) -> object:
    from shoal.cli.output import to_jsonable

    data = to_jsonable(item)
    if isinstance(data, dict) and isinstance(data.get("output"), dict):
        data["output"].pop("inline", None)  # bytes; the digest names the value
    return data


@app.command("logs")
def logs(
    ctx: typer.Context,
    run_id: RunArgument,
    step: Annotated[str | None, typer.Option(help="Only this step.")] = None,
    item: Annotated[
        str | None, typer.Option(help="Only this item: its key (a tenant) or its index.")
    ] = None,
) -> None:
    """The captured output (prints, logging) and tracebacks of a run's items."""
    store = runner(ctx).store
    _get(store.find_run(run_id), run_id)
    shown = 0
    for record in store.list_items(run_id, step):
        if item is not None and item not in (record.key, str(record.index)):
            continue
        if not (record.logs or record.error):
            continue
        shown += 1
        console.rule(
            f"{record.step}[{record.key or record.index}] attempt {record.attempts} "
            f"{record.status.value}"
        )
        if record.logs:
            typer.echo(record.logs.rstrip("\n"))
        if record.error:
            typer.echo(record.error.rstrip("\n"), err=True)
    if not shown:
        console.print("no captured output for the items asked for", style="dim")


@app.command("compare")
def compare(
    ctx: typer.Context,
    left: Annotated[str, typer.Argument(help="A run id.")],
    right: Annotated[str, typer.Argument(help="Another run id.")],
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Two runs side by side: parameters, step states, timings, metrics and output digests."""
    store = runner(ctx).store
    sides = []
    for run_id in (left, right):
        run = _get(store.find_run(run_id), run_id)
        sides.append(
            (run, summarize_steps(run, store.list_steps(run_id), store.list_items(run_id)))
        )
    rows = compare_runs(sides[0], sides[1])
    if output is OutputFormat.JSON:
        print_json({"left": left, "right": right, "rows": rows})
        return
    print_rows(
        f"{left} vs {right}",
        ["what", left, right, ""],
        [[r.what, r.left, r.right, "" if r.same else "≠"] for r in rows],
    )


@app.command("resume")
def resume(
    ctx: typer.Context,
    run_id: RunArgument,
    workers: Annotated[int | None, typer.Option(help="Local workers (default: all cores).")] = None,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Finish a failed or abandoned run: only items not recorded as succeeded run again."""
    with progress_bar(output) as progress:
        run = runner(ctx, workers).resume(run_id, progress=progress)
    print_outcome(run, output)


@app.command("rerun")
def rerun(
    ctx: typer.Context,
    run_id: RunArgument,
    workers: Annotated[int | None, typer.Option(help="Local workers (default: all cores).")] = None,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """A new run with the same parameters, data snapshots and (checked) code as RUN."""
    with progress_bar(output) as progress:
        run = runner(ctx, workers).rerun(run_id, progress=progress)
    print_outcome(run, output)


def _get(run: RunRecord | None, run_id: str) -> RunRecord:
    if run is None:
        raise NotFoundError(f"run {run_id!r} does not exist")
    return run
