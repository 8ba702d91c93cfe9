"""``shoal keys create|list|revoke|history``: API keys for the endpoint and the management API,
and the audit log of key and plan changes."""

from __future__ import annotations

from typing import Annotated

import typer

from shoal.access.records import AccessEvent, ApiKey
from shoal.cli.output import (
    OutputFormat,
    OutputOption,
    command_group,
    console,
    key_values,
    print_json,
    print_listing,
    short_time,
)
from shoal.cli.state import client

app = command_group("API keys: admin, or scoped to one tenant.")


@app.command("create")
def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="A name to recognise the key by (ci, dashboard).")],
    tenant: Annotated[
        str | None, typer.Option(help="Scope the key to this tenant's models only.")
    ] = None,
    admin: Annotated[
        bool, typer.Option(help="An admin key (every tenant, every operation).")
    ] = False,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Create a key and print its token once; only a hash of it is kept."""
    if (tenant is None) != admin:
        raise typer.BadParameter("give --tenant NAME for a tenant key, or --admin for an admin key")
    key, token = client(ctx).create_key(name, tenant)
    if output is OutputFormat.JSON:
        print_json({"key": key, "token": token})
        return
    scope = f"tenant {key.tenant}" if key.tenant else "admin"
    console.print(
        f"created {scope} key {key.id} ({key.name}); its token, shown only now:", highlight=False
    )
    typer.echo(token)


@app.command("list")
def list_(
    ctx: typer.Context,
    tenant: Annotated[str | None, typer.Option(help="Only this tenant's keys.")] = None,
    limit: Annotated[int, typer.Option(help="Page size (1-1000).")] = 100,
    cursor: Annotated[str | None, typer.Option(help="Cursor of the next page.")] = None,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """List keys (never their tokens)."""
    page = client(ctx).list_keys(tenant, limit, cursor)

    def row(k: ApiKey) -> list[object]:
        revoked = short_time(k.revoked_at) if k.revoked_at else ""
        return [
            k.id,
            k.name,
            k.scope.value,
            k.tenant or "",
            k.prefix,
            short_time(k.created_at),
            revoked,
        ]

    columns = ["id", "name", "scope", "tenant", "prefix", "created", "revoked"]
    print_listing(output, "API keys", columns, page.items, row, page.next_cursor)


@app.command("revoke")
def revoke(
    ctx: typer.Context, key_id: Annotated[str, typer.Argument(help="The key's id.")]
) -> None:
    """Revoke a key; every server refuses it within seconds."""
    key = client(ctx).revoke_key(key_id)
    typer.echo(f"revoked key {key.id} ({key.name})")


@app.command("history")
def history(
    ctx: typer.Context,
    subject: Annotated[
        str | None, typer.Option(help="Only this key (key:<id>) or plan subject (a tenant).")
    ] = None,
    tenant: Annotated[str | None, typer.Option(help="Only this tenant's keys and plan.")] = None,
    limit: Annotated[int, typer.Option(help="Page size (1-1000).")] = 100,
    cursor: Annotated[str | None, typer.Option(help="Cursor of the next page.")] = None,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Who created or revoked which key and set or removed which plan, newest first."""
    page = client(ctx).access_history(subject, tenant, limit, cursor)

    def row(e: AccessEvent) -> list[object]:
        return [
            short_time(e.at),
            e.actor,
            e.action.value,
            e.subject,
            e.tenant or "",
            key_values(e.detail),
        ]

    columns = ["at", "actor", "action", "subject", "tenant", "detail"]
    print_listing(output, "Key and plan changes", columns, page.items, row, page.next_cursor)
