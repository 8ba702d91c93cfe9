"""``shoal schedules add|list|show|pause|resume|remove|fires``: pipelines on cron."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated
from zoneinfo import ZoneInfo

import typer

from shoal.cli.output import (
    OutputFormat,
    OutputOption,
    command_group,
    print_json,
    print_listing,
    print_rows,
    short_time,
)
from shoal.cli.state import client, state
from shoal.errors import ValidationError
from shoal.scheduling.records import Fire, MissedRuns, Schedule
from shoal.scheduling.service import ScheduleService
from shoal.wiring import build_schedules

app = command_group("Schedules: run pipelines on cron, in an explicit time zone.")


def _schedules(ctx: typer.Context) -> ScheduleService:
    return build_schedules(state(ctx).settings(), client(ctx).services)


def _parameters(assignments: list[str] | None) -> dict[str, str]:
    found: dict[str, str] = {}
    for assignment in assignments or []:
        key, sep, value = assignment.partition("=")
        if not sep or not key.strip():
            raise ValidationError(f"parameter {assignment!r} must look like key=value")
        if key.strip() in found:
            raise ValidationError(f"parameter {key.strip()!r} is given twice")
        found[key.strip()] = value
    return found


def _default_name(pipeline: str) -> str:
    attribute = pipeline.rpartition(":")[2]
    return attribute.replace("_", "-").lower()


@app.command("add")
def add(
    ctx: typer.Context,
    pipeline: Annotated[
        str, typer.Argument(help="The pipeline: package.module:attribute or file.py:attribute.")
    ],
    cron: Annotated[str, typer.Option(help="Cron expression, e.g. '0 2 * * *' or @daily.")],
    timezone: Annotated[
        str, typer.Option("--timezone", "--tz", help="IANA zone the cron is read in.")
    ] = "UTC",
    name: Annotated[
        str | None, typer.Option(help="The schedule's name (default: the pipeline's attribute).")
    ] = None,
    param: Annotated[
        list[str] | None, typer.Option("--param", "-p", help="key=value passed to every run.")
    ] = None,
    missed: Annotated[
        MissedRuns, typer.Option(help="Fires missed while no scheduler ran: skip or catch-up.")
    ] = MissedRuns.SKIP,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Add a schedule; the pipeline is loaded to check it exists and takes these parameters."""
    service = _schedules(ctx)
    schedule = service.add(
        name or _default_name(pipeline), pipeline, cron, timezone, _parameters(param), missed
    )
    if output is OutputFormat.JSON:
        print_json(schedule)
        return
    upcoming = service.next_fire(schedule)
    local = upcoming.astimezone(ZoneInfo(schedule.timezone)) if upcoming else None
    when = f"; next run {local.isoformat(timespec='minutes')}" if local else ""
    typer.echo(f"added schedule {schedule.name}: {schedule.cron} ({schedule.timezone}){when}")


SCHEDULE_COLUMNS = ["name", "state", "cron", "timezone", "pipeline", "parameters", "missed", "next"]


def _row(service: ScheduleService) -> Callable[[Schedule], list[object]]:
    def row(s: Schedule) -> list[object]:
        upcoming = service.next_fire(s)
        params = " ".join(f"{k}={v}" for k, v in s.parameters.items())
        return [
            s.name,
            s.state.value,
            s.cron,
            s.timezone,
            s.pipeline,
            params,
            s.missed.value,
            short_time(upcoming) + " UTC" if upcoming else "",
        ]

    return row


@app.command("list")
def list_(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(help="Page size (1-1000).")] = 100,
    cursor: Annotated[str | None, typer.Option(help="Cursor of the next page.")] = None,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """List schedules by name, with their next fire time."""
    service = _schedules(ctx)
    page = service.list(limit, cursor)
    print_listing(
        output, "Schedules", SCHEDULE_COLUMNS, page.items, _row(service), page.next_cursor
    )


@app.command("show")
def show(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The schedule's name.")],
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """One schedule and its latest fires."""
    service = _schedules(ctx)
    schedule = service.get(name)
    fires = service.fires(name, limit=10)
    if output is OutputFormat.JSON:
        print_json({"schedule": schedule, "fires": fires.items})
        return
    print_rows(f"Schedule {name}", SCHEDULE_COLUMNS, [_row(service)(schedule)])
    print_rows("Latest fires", FIRE_COLUMNS, [_fire_row(f) for f in fires.items])


@app.command("pause")
def pause(ctx: typer.Context, name: Annotated[str, typer.Argument(help="The schedule.")]) -> None:
    """Stop starting runs (runs in progress go on)."""
    _schedules(ctx).pause(name)
    typer.echo(f"paused schedule {name}")


@app.command("resume")
def resume(ctx: typer.Context, name: Annotated[str, typer.Argument(help="The schedule.")]) -> None:
    """Start runs again from the next fire time; fires while paused are not caught up."""
    _schedules(ctx).resume(name)
    typer.echo(f"resumed schedule {name}")


@app.command("remove")
def remove(ctx: typer.Context, name: Annotated[str, typer.Argument(help="The schedule.")]) -> None:
    """Delete a schedule and the record of its fires."""
    _schedules(ctx).remove(name)
    typer.echo(f"removed schedule {name}")


FIRE_COLUMNS = ["schedule", "fire time (UTC)", "status", "run", "exit", "scheduler", "detail"]


def _fire_row(f: Fire) -> list[object]:
    return [
        f.schedule,
        short_time(f.fire_at),
        f.status.value,
        f.run_id or "",
        "" if f.exit_code is None else f.exit_code,
        f.claimed_by,
        (f.detail or "")[:100],
    ]


@app.command("fires")
def fires(
    ctx: typer.Context,
    name: Annotated[str | None, typer.Argument(help="One schedule's fires (default: all).")] = None,
    limit: Annotated[int, typer.Option(help="Page size (1-1000).")] = 100,
    cursor: Annotated[str | None, typer.Option(help="Cursor of the next page.")] = None,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Fire times claimed by schedulers, newest first, with how their runs went."""
    page = _schedules(ctx).fires(name, limit, cursor)
    print_listing(output, "Fires", FIRE_COLUMNS, page.items, _fire_row, page.next_cursor)
