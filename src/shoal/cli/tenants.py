"""``shoal tenants create|list``."""

from __future__ import annotations

from typing import Annotated

import typer

from shoal.cli.output import (
    OutputFormat,
    OutputOption,
    command_group,
    print_json,
    print_listing,
    short_time,
)
from shoal.cli.state import client
from shoal.registry.records import Tenant

app = command_group("Tenants: the customers (or teams) that own models.")


@app.command("create")
def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Lower-case name: a-z, 0-9, '.', '_', '-'.")],
    description: Annotated[str, typer.Option(help="Free text.")] = "",
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Create a tenant."""
    tenant = client(ctx).create_tenant(name, description)
    if output is OutputFormat.JSON:
        print_json(tenant)
    else:
        typer.echo(f"created tenant {tenant.name}")


@app.command("list")
def list_(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(help="Page size (1-1000).")] = 100,
    cursor: Annotated[str | None, typer.Option(help="Cursor of the next page.")] = None,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """List tenants by name, a page at a time."""
    page = client(ctx).list_tenants(limit, cursor)

    def row(t: Tenant) -> list[object]:
        return [t.name, t.description, short_time(t.created_at), t.created_by]

    print_listing(
        output,
        "Tenants",
        ["name", "description", "created", "by"],
        page.items,
        row,
        page.next_cursor,
    )
