"""Bring a database's registry schema up to date by running the Alembic migrations in-process.

``upgrade`` first compares the database's revision with the scripts' head, which costs one
small query, so every process may call it when it opens the store. Only when the schema is
behind does it take a lock (a PostgreSQL advisory lock, SQLite's write lock via
``BEGIN IMMEDIATE``), look again and migrate, so concurrent first-time upgrades run once.
"""

from __future__ import annotations

import logging
from functools import cache
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, Engine

from shoal.storage.engine import database_errors, writer
from shoal.storage.tables import VERSION_TABLE

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
# Any fixed 64-bit number works; it only has to be the same in every Shoal process.
_ADVISORY_LOCK_KEY = 0x5E0A1_0001


def alembic_config() -> Config:
    """An Alembic config for the packaged migrations, without an ini file."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


@cache
def head_revisions() -> frozenset[str]:
    """The revisions the migration scripts end at."""
    return frozenset(ScriptDirectory.from_config(alembic_config()).get_heads())


def current_revisions(connection: Connection) -> frozenset[str]:
    """The revisions the database is at; empty for a database never migrated."""
    context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
    return frozenset(context.get_current_heads())


def is_up_to_date(engine: Engine) -> bool:
    """Whether the schema is at the scripts' head."""
    with database_errors(engine), engine.connect() as connection:
        return current_revisions(connection) == head_revisions()


def upgrade(engine: Engine) -> bool:
    """Migrate the schema to head; returns False, having changed nothing, if it was there already.

    ``engine`` must come from ``shoal.storage.engine.create_engine`` (on SQLite it relies on
    that engine's transaction handling for the lock).
    """
    if is_up_to_date(engine):
        return False
    with database_errors(engine), writer(engine).connect() as connection, connection.begin():
        if connection.dialect.name == "postgresql":
            # Released at commit; a second process waits here, then finds head below.
            connection.execute(
                sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ADVISORY_LOCK_KEY}
            )
        if current_revisions(connection) == head_revisions():
            return False
        logger.info("migrating %s to %s", engine.url.render_as_string(), head_revisions())
        config = alembic_config()
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
    return True
