"""Alembic environment: runs the registry migrations on the connection ``migrate.upgrade`` passes.

Without a connection in ``config.attributes`` (the ``alembic`` command line), it connects to
``sqlalchemy.url`` through ``shoal.storage.engine.create_engine``.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from shoal.storage.engine import create_engine, writer
from shoal.storage.tables import VERSION_TABLE, metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table=VERSION_TABLE,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _main() -> None:
    connection = context.config.attributes.get("connection")
    if isinstance(connection, Connection):
        _run(connection)
        return
    url = context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("set sqlalchemy.url or pass a connection in config.attributes")
    engine = writer(create_engine(url))
    try:
        with engine.connect() as fresh:
            _run(fresh)
            fresh.commit()
    finally:
        engine.dispose()


_main()
