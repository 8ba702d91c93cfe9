"""``SqlStore``: what every SQL store shares — an engine, a writer, and read/write transactions."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.engine import Connection, Engine

from shoal.storage.engine import database_errors, writer


class SqlStore:
    """Base of the SQL stores: one transaction per call, driver errors as Shoal errors."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._writer = writer(engine)

    @property
    def engine(self) -> Engine:
        return self._engine

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with database_errors(self._engine), self._engine.connect() as conn:
            yield conn
            # Ending reads with COMMIT, not the pool's ROLLBACK, matters: psycopg forgets its
            # prepared statements on every rollback, and re-planning the joins costs ~1 ms.
            conn.commit()

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        """A transaction that takes the write lock as it begins (SQLite: BEGIN IMMEDIATE)."""
        with database_errors(self._engine), self._writer.begin() as conn:
            yield conn
