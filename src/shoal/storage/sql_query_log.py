"""``SqlQueryLog``: the append-only audit log of data queries in SQLite or PostgreSQL."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from shoal.queries.records import QueryDraft, QueryLogQuery, QueryRecord, QueryStatus
from shoal.registry.records import Page, PageRequest
from shoal.storage import registry_rules as rules
from shoal.storage.sql_store import SqlStore
from shoal.storage.tables import query_log


class SqlQueryLog(SqlStore):
    """A ``QueryLog`` over a migrated database; entries list newest first by id."""

    def append(self, draft: QueryDraft) -> QueryRecord:
        values = {
            "at": rules.as_utc(draft.at, "at"),
            "actor": draft.actor,
            "query": draft.query,
            "tables": list(draft.tables),
            "rows": draft.rows,
            "duration_ms": draft.duration_ms,
            "status": QueryStatus(draft.status).value,
            "error": draft.error,
        }
        with self._write() as conn:
            entry_id = conn.execute(
                sa.insert(query_log).values(**values).returning(query_log.c.id)
            ).scalar_one()
            row = conn.execute(sa.select(query_log).where(query_log.c.id == entry_id)).one()
        return _record(row)

    def list_queries(self, query: QueryLogQuery, page: PageRequest) -> Page[QueryRecord]:
        after = rules.page_key(page, int)
        select = sa.select(query_log).order_by(query_log.c.id.desc())
        if after is not None:
            select = select.where(query_log.c.id < after[0])
        if query.actor is not None:
            select = select.where(query_log.c.actor == query.actor)
        with self._read() as conn:
            if query.table is None:
                rows = list(conn.execute(select.limit(page.limit + 1)))
                found = [_record(row) for row in rows]
            else:
                # Tables are a JSON list; filtering in Python keeps one query for both backends.
                found = []
                result = conn.execute(select.execution_options(yield_per=500))
                try:
                    for row in result:
                        if query.table in row.tables:
                            found.append(_record(row))
                            if len(found) > page.limit:
                                break
                finally:
                    result.close()
        return rules.page_of(found, page.limit, lambda record: (record.id,))


def _record(row: Any) -> QueryRecord:
    return QueryRecord(
        id=row.id,
        at=row.at,
        actor=row.actor,
        query=row.query,
        tables=tuple(row.tables),
        rows=row.rows,
        duration_ms=row.duration_ms,
        status=QueryStatus(row.status),
        error=row.error,
    )
