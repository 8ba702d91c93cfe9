"""Records of data queries: the tables a query can see and the audit entry every query leaves."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pandas comes with DuckDB's results when a query runs, not with the CLI
    import pandas as pd


class TableFormat(StrEnum):
    PARQUET = "parquet"
    CSV = "csv"


@dataclass(frozen=True, slots=True)
class TableSource:
    """A table by name: one file, or a folder of files of one format (read as one table)."""

    name: str
    path: Path
    format: TableFormat
    origin: str
    """Where it came from: ``folder`` or ``artifact:<digest>``."""


class QueryStatus(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    REFUSED = "refused"
    """Not a read-only query (COPY, ATTACH, INSERT...), or more than one statement."""


@dataclass(frozen=True, slots=True)
class QueryDraft:
    """An audit entry before the log numbers it."""

    at: datetime
    actor: str
    query: str
    tables: tuple[str, ...]
    rows: int | None
    duration_ms: float
    status: QueryStatus
    error: str | None = None


@dataclass(frozen=True, slots=True)
class QueryRecord:
    """One audited query: who ran what, when, on which tables, and how many rows came back."""

    id: int
    at: datetime
    actor: str
    query: str
    tables: tuple[str, ...]
    rows: int | None
    duration_ms: float
    status: QueryStatus
    error: str | None = None


@dataclass(frozen=True, slots=True)
class QueryLogQuery:
    """Filters of the audit log listing."""

    actor: str | None = None
    table: str | None = None


@dataclass(frozen=True, slots=True)
class QueryResult:
    """The rows a query returned (a DataFrame) and its audit entry."""

    frame: pd.DataFrame
    record: QueryRecord
