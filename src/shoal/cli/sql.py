"""``shoal sql "SELECT ..."`` and ``shoal queries tables|log``: audited SQL over the team's data."""

from __future__ import annotations

from typing import Annotated

import typer

from shoal.cli.output import (
    OutputFormat,
    OutputOption,
    command_group,
    console,
    print_listing,
    print_rows,
)
from shoal.cli.state import client, state
from shoal.errors import ValidationError
from shoal.queries.records import QueryLogQuery, QueryRecord
from shoal.queries.service import QueryService
from shoal.wiring import build_queries

app = command_group("The data tables SQL sees, and the audit log of queries.")


def _queries(ctx: typer.Context, tables: list[str] | None = None) -> QueryService:
    named: dict[str, str] = {}
    for item in tables or []:
        name, sep, digest = item.partition("=")
        if not sep or not name or not digest:
            raise ValidationError(f"--table {item!r} must look like name=<sha256>[.csv]")
        named[name] = digest
    return build_queries(state(ctx).settings(), client(ctx).services, named)


def sql(
    ctx: typer.Context,
    query: Annotated[str, typer.Argument(help="One read-only SQL statement (DuckDB dialect).")],
    table: Annotated[
        list[str] | None,
        typer.Option(help="name=<sha256> of a Parquet (or name=<sha256>.csv) artifact to query."),
    ] = None,
    max_rows: Annotated[int, typer.Option(min=1, help="Rows shown, at most.")] = 100,
    output: Annotated[
        str, typer.Option("--output", "-o", help="table, json or csv (all rows)")
    ] = "table",
) -> None:
    """Run SQL over the data folder's Parquet/CSV files (and named artifacts); it is audited."""
    if output not in {"table", "json", "csv"}:
        raise ValidationError(f"--output must be table, json or csv, not {output!r}")
    result = _queries(ctx, table).sql(query)
    frame = result.frame
    if output == "csv":
        typer.echo(frame.to_csv(index=False), nl=False)
        return
    if output == "json":
        print(frame.to_json(orient="records", date_format="iso"))
        return
    shown = frame.head(max_rows)
    rows = [list(row) for row in shown.itertuples(index=False)]
    print_rows(f"{len(frame)} row(s)", [str(c) for c in frame.columns], rows)
    if len(frame) > max_rows:
        console.print(
            f"showing {max_rows} of {len(frame)} rows (--max-rows, or -o csv)", style="dim"
        )


@app.command("tables")
def tables(ctx: typer.Context, output: OutputOption = OutputFormat.TABLE) -> None:
    """The tables ``shoal sql`` can name, and the files behind them."""
    found = list(_queries(ctx).tables().values())
    print_listing(
        output,
        "Tables",
        ["name", "format", "path", "origin"],
        found,
        lambda t: [t.name, t.format.value, str(t.path), t.origin],
        None,
    )


@app.command("log")
def log(
    ctx: typer.Context,
    actor: Annotated[str | None, typer.Option(help="Only queries by this actor.")] = None,
    table: Annotated[str | None, typer.Option(help="Only queries that read this table.")] = None,
    limit: Annotated[int, typer.Option(help="Page size (1-1000).")] = 100,
    cursor: Annotated[str | None, typer.Option(help="Cursor of the next page.")] = None,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """The audit log: who ran which query, when, on which tables, and how many rows it returned."""
    page = _queries(ctx).history(QueryLogQuery(actor, table), limit, cursor)

    def row(r: QueryRecord) -> list[object]:
        rows = "" if r.rows is None else r.rows
        detail = r.error or ""
        return [
            r.id,
            r.at.isoformat(timespec="seconds"),
            r.actor,
            r.status.value,
            ", ".join(r.tables),
            rows,
            r.query[:120],
            detail[:80],
        ]

    columns = ["id", "at", "actor", "status", "tables", "rows", "query", "error"]
    print_listing(output, "Query log", columns, page.items, row, page.next_cursor)
