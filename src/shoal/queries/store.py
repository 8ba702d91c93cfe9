"""The role the query audit needs from storage; ``shoal.storage`` implements it in SQL."""

from __future__ import annotations

from typing import Protocol

from shoal.queries.records import QueryDraft, QueryLogQuery, QueryRecord
from shoal.registry.records import Page, PageRequest


class QueryLog(Protocol):
    """The append-only audit log of data queries. Each method is one transaction."""

    def append(self, draft: QueryDraft) -> QueryRecord:
        """Record a query; the log numbers entries in the order they are appended."""
        ...

    def list_queries(self, query: QueryLogQuery, page: PageRequest) -> Page[QueryRecord]:
        """Entries newest first; ``table`` keeps those that read that table."""
        ...
