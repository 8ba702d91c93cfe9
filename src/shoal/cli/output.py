"""Renders listings and records as a rich table or as JSON, the only two output forms."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from enum import Enum, StrEnum
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

console = Console()
errors = Console(stderr=True)


class OutputFormat(StrEnum):
    TABLE = "table"
    JSON = "json"


OutputOption = Annotated[OutputFormat, typer.Option("--output", "-o", help="table or json")]
"""The ``--output table|json`` option every listing takes."""


def command_group(help_text: str) -> typer.Typer:
    """A ``shoal <noun>`` group. Help texts are plain: "[env SHOAL_X]" must not vanish as markup."""
    return typer.Typer(rich_markup_mode=None, help=help_text, no_args_is_help=True)


def to_jsonable(value: object) -> object:
    """Records (frozen dataclasses), enums, datetimes, mappings and sequences as plain JSON."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if hasattr(value, "to_dict"):
        return to_jsonable(value.to_dict())
    return value


def print_json(value: object) -> None:
    # Plain print, not rich: JSON must stay byte-exact for pipes (no wrapping, no colour).
    print(json.dumps(to_jsonable(value), indent=2, sort_keys=False))


def print_rows(
    title: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[object]],
    next_cursor: str | None = None,
) -> None:
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        # Text, not str: cells are data, so "list[str]" must not be read as rich markup.
        table.add_row(*(Text("" if cell is None else str(cell)) for cell in row))
    console.print(table)
    if next_cursor:
        console.print(f"more: --cursor {next_cursor}", style="dim")


T = TypeVar("T")


def print_listing(
    output: OutputFormat,
    title: str,
    columns: Sequence[str],
    records: Sequence[T],
    row: Callable[[T], Sequence[object]],
    next_cursor: str | None,
) -> None:
    """A page of records: JSON ``{"items": [...], "next_cursor": ...}`` or a table."""
    if output is OutputFormat.JSON:
        print_json({"items": list(records), "next_cursor": next_cursor})
        return
    print_rows(title, columns, [row(record) for record in records], next_cursor)


def short_time(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M:%S")


def key_values(pairs: Mapping[str, object]) -> str:
    return ", ".join(f"{k}={v}" for k, v in pairs.items())
