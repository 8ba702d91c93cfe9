"""Engines: SQLite tuned for several processes, URLs masked in every error."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from shoal.errors import StorageError
from shoal.storage.engine import create_engine, database_errors, mask_url


def test_a_sqlite_engine_creates_its_folder_and_sets_the_pragmas(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'deep' / 'er' / 'shoal.db'}")
    with engine.connect() as conn:
        pragmas = {
            name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()
            for name in ("journal_mode", "synchronous", "foreign_keys", "busy_timeout")
        }
    engine.dispose()
    assert pragmas == {
        "journal_mode": "wal",
        "synchronous": 1,
        "foreign_keys": 1,
        "busy_timeout": 30_000,
    }
    assert (tmp_path / "deep" / "er").is_dir()


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("postgresql://bob:s3cret@db:5432/shoal", "postgresql://bob:***@db:5432/shoal"),
        ("sqlite:///x.db", "sqlite:///x.db"),
    ],
)
def test_mask_url_hides_the_password(url: str, masked: str) -> None:
    assert mask_url(url) == masked
    assert "s3cret" not in mask_url(sa.make_url(url))


def test_postgres_urls_use_psycopg_3() -> None:
    engine = create_engine("postgresql://bob:s3cret@127.0.0.1:1/shoal")
    assert engine.url.drivername == "postgresql+psycopg"
    engine.dispose()


def test_an_unsupported_url_is_a_storage_error() -> None:
    with pytest.raises(StorageError, match="unsupported database URL"):
        create_engine("mysql://bob:s3cret@db/shoal")
    with pytest.raises(StorageError, match="invalid database URL"):
        create_engine("not a url")


def test_a_driver_failure_is_a_storage_error_without_the_password() -> None:
    engine = create_engine("postgresql://bob:s3cret@127.0.0.1:1/shoal?connect_timeout=1")
    with pytest.raises(StorageError) as caught, database_errors(engine), engine.connect():
        pass
    assert "bob:***@127.0.0.1:1" in str(caught.value)
    assert "s3cret" not in str(caught.value)
    engine.dispose()
