"""SQLAlchemy engines for SQLite and PostgreSQL, tuned for several processes sharing one store.

SQLite gets WAL, ``synchronous=NORMAL``, foreign keys and a 30 s busy timeout on every
connection, and SQLAlchemy (not the sqlite3 module) decides where transactions begin, so that
writers can take the write lock up front with ``BEGIN IMMEDIATE`` (see ``writer``) instead of
failing with "database is locked" when they upgrade a read lock.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection, Engine
from sqlalchemy.exc import ArgumentError, IntegrityError, NoSuchModuleError, SQLAlchemyError

from shoal.errors import ConflictError, StorageError

BUSY_TIMEOUT_S = 30
_BEGIN_OPTION = "shoal_begin"
_PASSWORD = re.compile(r"(://[^:/@]*:)[^@]*@")


def mask_url(url: str | URL) -> str:
    """The URL with its password replaced by ``***``, safe for messages and logs."""
    if isinstance(url, URL):
        return url.render_as_string(hide_password=True)
    return _PASSWORD.sub(r"\1***@", url)


def create_engine(url: str) -> Engine:
    """An engine for ``sqlite:///path`` or ``postgresql+psycopg://...``; ``StorageError`` if not.

    ``postgresql://`` and ``postgres://`` URLs use the psycopg 3 driver.
    """
    try:
        parsed = sa.make_url(url)
    except ArgumentError as exc:
        raise StorageError(f"invalid database URL {mask_url(url)}: {exc}") from exc
    backend = parsed.get_backend_name()
    try:
        if backend == "sqlite":
            return _sqlite_engine(parsed)
        if backend in {"postgresql", "postgres"}:
            if "+" not in parsed.drivername:
                parsed = parsed.set(drivername="postgresql+psycopg")
            return sa.create_engine(parsed, pool_pre_ping=True)
    except (NoSuchModuleError, ImportError, ArgumentError) as exc:
        raise StorageError(f"cannot open database {mask_url(parsed)}: {exc}") from exc
    raise StorageError(
        f"unsupported database URL {mask_url(parsed)}: use sqlite:///PATH or "
        "postgresql+psycopg://USER@HOST/DB"
    )


def writer(engine: Engine) -> Engine:
    """The same engine (and pool) whose transactions take the write lock as they begin.

    On SQLite that is ``BEGIN IMMEDIATE``; other databases lock rows as they go and ignore it.
    """
    return engine.execution_options(**{_BEGIN_OPTION: "IMMEDIATE"})


@contextmanager
def database_errors(engine: Engine) -> Iterator[None]:
    """Turn SQLAlchemy and driver failures into Shoal errors naming the (masked) database URL."""
    try:
        yield
    except IntegrityError as exc:
        raise ConflictError(
            f"the change clashes with existing data in {mask_url(engine.url)}: {exc.orig}"
        ) from exc
    except SQLAlchemyError as exc:
        reason = getattr(exc, "orig", None) or exc
        raise StorageError(f"database {mask_url(engine.url)} failed: {reason}") from exc


def _sqlite_engine(url: URL) -> Engine:
    database = url.database or ""
    in_memory = database in {"", ":memory:"} or database.startswith("file:")
    if not in_memory:
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_S})
    sa.event.listen(engine, "connect", _configure_sqlite_connection)
    sa.event.listen(engine, "begin", _begin_sqlite_transaction)
    return engine


def _configure_sqlite_connection(dbapi_connection: Any, _record: object) -> None:
    # Hand transaction control to SQLAlchemy: the sqlite3 module would otherwise BEGIN lazily
    # (deferred) before DML and commit implicitly around DDL.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_S * 1000}")
    finally:
        cursor.close()


def _begin_sqlite_transaction(connection: Connection) -> None:
    mode = connection.get_execution_options().get(_BEGIN_OPTION)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if mode == "IMMEDIATE" else "BEGIN")
