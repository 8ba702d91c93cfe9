"""``shoal plans set|show|list|remove|usage``: usage plans (rate, burst, quotas) per tenant or
key."""

from __future__ import annotations

from typing import Annotated

import typer

from shoal.access.records import UsagePlan
from shoal.cli.output import (
    OutputFormat,
    OutputOption,
    command_group,
    print_json,
    print_listing,
    print_rows,
    short_time,
)
from shoal.cli.state import client

app = command_group("Usage plans: rate + burst and daily/monthly quotas.")

SubjectArgument = Annotated[str, typer.Argument(help="A tenant name, or key:<key id>.")]


@app.command("set")
def set_(
    ctx: typer.Context,
    subject: SubjectArgument,
    rate: Annotated[float, typer.Option(help="Requests per second, sustained.")],
    burst: Annotated[int, typer.Option(help="Requests allowed at once (bucket size).")],
    per_day: Annotated[int | None, typer.Option(help="Quota per UTC day.")] = None,
    per_month: Annotated[int | None, typer.Option(help="Quota per UTC month.")] = None,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Set (or replace) the plan of a tenant or a key; over it, requests get 429."""
    plan = client(ctx).set_plan(subject, rate, burst, per_day, per_month)
    if output is OutputFormat.JSON:
        print_json(plan)
    else:
        typer.echo(
            f"plan of {plan.subject}: {plan.rate_per_s:g}/s, burst {plan.burst}, "
            f"per day {plan.quota_per_day or '-'}, per month {plan.quota_per_month or '-'}"
        )


@app.command("show")
def show(
    ctx: typer.Context, subject: SubjectArgument, output: OutputOption = OutputFormat.TABLE
) -> None:
    """Show the plan of a tenant or key."""
    plan = client(ctx).get_plan(subject)
    if output is OutputFormat.JSON:
        print_json(plan)
        return
    print_rows(
        f"Plan of {subject}",
        ["rate/s", "burst", "per day", "per month"],
        [[plan.rate_per_s, plan.burst, plan.quota_per_day, plan.quota_per_month]],
    )


@app.command("list")
def list_(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(help="Page size (1-1000).")] = 100,
    cursor: Annotated[str | None, typer.Option(help="Cursor of the next page.")] = None,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """List every plan by subject."""
    page = client(ctx).list_plans(limit, cursor)

    def row(p: UsagePlan) -> list[object]:
        updated = short_time(p.updated_at) if p.updated_at else ""
        return [
            p.subject,
            f"{p.rate_per_s:g}",
            p.burst,
            p.quota_per_day or "-",
            p.quota_per_month or "-",
            f"{updated} by {p.updated_by}" if p.updated_by else updated,
        ]

    columns = ["subject", "rate/s", "burst", "per day", "per month", "updated"]
    print_listing(output, "Usage plans", columns, page.items, row, page.next_cursor)


@app.command("remove")
def remove(ctx: typer.Context, subject: SubjectArgument) -> None:
    """Remove a plan (the subject is no longer limited)."""
    client(ctx).remove_plan(subject)
    typer.echo(f"removed the plan of {subject}")


@app.command("usage")
def usage(
    ctx: typer.Context, subject: SubjectArgument, output: OutputOption = OutputFormat.TABLE
) -> None:
    """Requests used today and this month, against the quotas (ratio for alarms)."""
    rows = client(ctx).usage(subject)
    if output is OutputFormat.JSON:
        print_json(
            [
                {
                    "window": u.window,
                    "used": u.used,
                    "limit": u.limit,
                    "ratio": u.ratio,
                    "resets_at": u.resets_at,
                }
                for u in rows
            ]
        )
        return
    print_rows(
        f"Usage of {subject}",
        ["window", "used", "limit", "ratio", "resets"],
        [
            [
                u.window.value,
                u.used,
                u.limit or "-",
                f"{u.ratio:.1%}" if u.ratio is not None else "-",
                u.resets_at.isoformat(),
            ]
            for u in rows
        ],
    )
