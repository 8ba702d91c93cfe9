"""Data access: audited read-only SQL (DuckDB) over Parquet/CSV in a folder or artifact store."""

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
from shoal.queries.service import QueryService
from shoal.queries.store import QueryLog

__all__ = [
    "DataCatalog",
    "QueryDraft",
    "QueryLog",
    "QueryLogQuery",
    "QueryRecord",
    "QueryResult",
    "QueryService",
    "QueryStatus",
    "TableFormat",
    "TableSource",
]
