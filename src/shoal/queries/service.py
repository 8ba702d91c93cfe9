"""``QueryService``: read-only SQL with DuckDB over the catalog's tables, every query audited.

Each query gets a fresh in-memory DuckDB whose file access is limited to the catalog's folders
(``allowed_directories``, then external access off and the configuration locked), with one
view per table. Only a single ``SELECT`` (or ``EXPLAIN``) statement runs; anything else is
refused. Every query — succeeded, failed or refused — is appended to the audit log with who
ran it, when, the tables it named and the rows it returned.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from shoal.errors import ShoalError, ValidationError
from shoal.queries.catalog import DataCatalog
from shoal.queries.records import (
    QueryDraft,
    QueryLogQuery,
    QueryRecord,
    QueryResult,
    QueryStatus,
    TableFormat,
    TableSource,
)
from shoal.queries.store import QueryLog
from shoal.registry.records import Page, PageRequest

if TYPE_CHECKING:  # pandas comes with DuckDB's results when a query runs, not with the CLI
    import pandas as pd
    from duckdb import DuckDBPyConnection

logger = logging.getLogger(__name__)

MAX_QUERY_CHARS = 100_000
_READ_ONLY = {"SELECT", "EXPLAIN"}


class QueryService:
    """Runs SQL for ``actor`` (or the actor passed per call) and audits it in ``log``."""

    def __init__(
        self,
        catalog: DataCatalog,
        log: QueryLog,
        actor: str,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._catalog = catalog
        self._log = log
        self._actor = actor
        self._clock = clock

    def tables(self) -> dict[str, TableSource]:
        return self._catalog.tables()

    def sql(
        self,
        query: str,
        parameters: Sequence[object] | Mapping[str, object] | None = None,
        actor: str | None = None,
    ) -> QueryResult:
        """Run one read-only query and return its rows; ``ValidationError`` on bad SQL.

        ``parameters`` bind ``?`` or ``$name`` placeholders (never format values into SQL).
        The entry is logged even when the query fails or is refused; the parameters are
        recorded with the query.
        """
        who = actor or self._actor
        audited = query if not parameters else f"{query}\n-- parameters: {parameters!r}"
        started = time.perf_counter()
        at = self._clock()
        named: tuple[str, ...] = ()
        try:
            text = _check_length(query)
            named = _table_names(text)
            frame = self._run(text, named, parameters)
        except _RefusedError as exc:
            self._audit(at, who, audited, named, None, started, QueryStatus.REFUSED, str(exc))
            raise ValidationError(str(exc)) from None
        except Exception as exc:  # every failure is audited, then reported
            message = _message(exc)
            self._audit(at, who, audited, named, None, started, QueryStatus.FAILED, message)
            if isinstance(exc, ShoalError) or not _is_duckdb_error(exc):
                raise
            raise ValidationError(f"query failed: {message}") from exc
        record = self._audit(at, who, audited, named, len(frame), started, QueryStatus.SUCCEEDED)
        return QueryResult(frame, record)

    def history(
        self, query: QueryLogQuery | None = None, limit: int = 100, cursor: str | None = None
    ) -> Page[QueryRecord]:
        """The audit log, newest first."""
        return self._log.list_queries(query or QueryLogQuery(), PageRequest(limit, cursor))

    def _run(
        self,
        query: str,
        named: tuple[str, ...],
        parameters: Sequence[object] | Mapping[str, object] | None,
    ) -> pd.DataFrame:
        tables = self._catalog.tables()
        unknown = [name for name in named if name not in tables]
        if unknown:
            known = ", ".join(tables) or "none"
            raise ValidationError(
                f"unknown table(s) {', '.join(map(repr, unknown))}; the tables are: {known}"
            )
        import duckdb

        with duckdb.connect(":memory:") as con:
            _lock_down(con, self._catalog.readable_folders)
            statements = con.extract_statements(query)
            if len(statements) != 1:
                raise _RefusedError(f"give exactly one SQL statement, got {len(statements)}")
            if statements[0].type.name not in _READ_ONLY:
                raise _RefusedError(
                    f"only read-only queries (SELECT) may run, not {statements[0].type.name}"
                )
            for name in named:
                # Safe to splice: names are checked identifiers, paths are quoted literals.
                view = f'CREATE VIEW "{name}" AS SELECT * FROM {_scan(tables[name])}'  # noqa: S608
                con.execute(view)
            con.execute("SET lock_configuration = true")
            return con.execute(query, parameters).df()

    def _audit(
        self,
        at: datetime,
        actor: str,
        query: str,
        tables: tuple[str, ...],
        rows: int | None,
        started: float,
        status: QueryStatus,
        error: str | None = None,
    ) -> QueryRecord:
        duration_ms = (time.perf_counter() - started) * 1000
        draft = QueryDraft(at, actor, query, tables, rows, duration_ms, status, error)
        record = self._log.append(draft)
        logger.info("query %d by %s: %s, %s rows", record.id, actor, status.value, rows)
        return record


class _RefusedError(Exception):
    """A statement that may not run here."""


def _check_length(query: str) -> str:
    if not isinstance(query, str) or not query.strip():
        raise ValidationError("the query is empty")
    if len(query) > MAX_QUERY_CHARS:
        raise ValidationError(f"the query is {len(query)} characters; at most {MAX_QUERY_CHARS}")
    return query


def _table_names(query: str) -> tuple[str, ...]:
    """The tables ``query`` names, from DuckDB's parse tree (common table expressions left out).

    ``duckdb.get_table_names`` would be simpler, but it binds the query and fails on joins
    ``USING`` columns of tables that do not exist yet.
    """
    import duckdb

    with duckdb.connect(":memory:") as con:
        row = con.execute("SELECT json_serialize_sql(?)", [query]).fetchone()
    tree = json.loads(row[0]) if row else {}
    if tree.get("error"):
        if tree.get("error_type") == "parser":
            raise ValidationError(f"the query does not parse: {tree.get('error_message')}")
        return ()  # not a SELECT: refused with a clearer message once its type is known
    tables: set[str] = set()
    ctes: set[str] = set()
    _walk(tree, tables, ctes)
    return tuple(sorted(tables - ctes))


def _walk(node: object, tables: set[str], ctes: set[str]) -> None:
    if isinstance(node, dict):
        if node.get("type") == "BASE_TABLE" and isinstance(node.get("table_name"), str):
            tables.add(node["table_name"])
        cte_map = node.get("cte_map")
        if isinstance(cte_map, dict):
            ctes.update(str(e.get("key")) for e in cte_map.get("map", []) if isinstance(e, dict))
        for value in node.values():
            _walk(value, tables, ctes)
    elif isinstance(node, list):
        for value in node:
            _walk(value, tables, ctes)


def _is_duckdb_error(exc: Exception) -> bool:
    import duckdb

    return isinstance(exc, duckdb.Error)


def _lock_down(con: DuckDBPyConnection, folders: tuple[Path, ...]) -> None:
    allowed = ", ".join(_literal(str(folder) + "/") for folder in folders)
    con.execute(f"SET allowed_directories = [{allowed}]")
    con.execute("SET enable_external_access = false")
    con.execute("SET autoinstall_known_extensions = false")


def _scan(table: TableSource) -> str:
    path = str(table.path)
    if table.path.is_dir():
        pattern = "**/*.parquet" if table.format is TableFormat.PARQUET else "**/*.csv"
        path = f"{path}/{pattern}"
    if table.format is TableFormat.PARQUET:
        return f"read_parquet({_literal(path)}, hive_partitioning = true)"
    return f"read_csv_auto({_literal(path)})"


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _message(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
