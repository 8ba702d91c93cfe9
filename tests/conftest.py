"""Shared fixtures: a throwaway PostgreSQL database and a local S3 server (moto) on 127.0.0.1."""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager

import pytest
import sqlalchemy as sa

ADMIN_URL = os.environ.get(
    "SHOAL_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


@contextmanager
def throwaway_postgres() -> Iterator[str]:
    """The URL of a new database on the PostgreSQL server, dropped (WITH FORCE) afterwards."""
    admin_url = sa.make_url(ADMIN_URL).set(drivername="postgresql+psycopg")
    admin = sa.create_engine(
        admin_url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3}
    )
    name = f"shoal_test_{secrets.token_hex(6)}"
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except sa.exc.OperationalError as exc:
        admin.dispose()
        pytest.skip(f"PostgreSQL at {admin_url.render_as_string()} is unreachable: {exc.orig}")
    try:
        yield admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture(scope="session")
def postgres_database() -> Callable[[], AbstractContextManager[str]]:
    """Makes throwaway PostgreSQL databases: ``with postgres_database() as url: ...``."""
    return throwaway_postgres


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A database created for this test session, shared by the contract tests."""
    with throwaway_postgres() as url:
        yield url


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """A moto S3 server on 127.0.0.1 with a bucket named ``artifacts``."""
    pytest.importorskip("s3fs")
    moto_server = pytest.importorskip("moto.server")
    boto3 = pytest.importorskip("boto3")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id="test",
        aws_secret_access_key="test",
        region_name="us-east-1",
    )
    client.create_bucket(Bucket="artifacts")
    yield endpoint
    server.stop()
