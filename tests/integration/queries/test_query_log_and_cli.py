"""The SQL audit log on SQLite and PostgreSQL, and ``shoal sql`` / ``shoal queries log``."""

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from shoal.cli.main import app
from shoal.queries import QueryDraft, QueryLogQuery, QueryStatus
from shoal.registry.records import PageRequest
from shoal.storage.engine import create_engine
from shoal.storage.migrate import upgrade
from shoal.storage.sql_query_log import SqlQueryLog
from shoal.storage.tables import query_log

AT = datetime(2024, 3, 1, 12, tzinfo=UTC)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def log(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlQueryLog]:
    if request.param == "sqlite":
        engine = create_engine(f"sqlite:///{tmp_path / 'q.db'}")
    else:
        engine = create_engine(request.getfixturevalue("postgres_url"))
    upgrade(engine)
    with engine.begin() as conn:
        conn.execute(sa.delete(query_log))
    yield SqlQueryLog(engine)
    engine.dispose()


def test_the_audit_log_keeps_who_ran_what_on_which_tables_newest_first(log: SqlQueryLog) -> None:
    for i, (actor, tables) in enumerate(
        [("ana", ("counts",)), ("bo", ("counts", "stops")), ("ana", ("stops",))]
    ):
        draft = QueryDraft(
            AT + timedelta(minutes=i), actor, f"SELECT {i}", tables, i, 1.5, QueryStatus.SUCCEEDED
        )
        log.append(draft)
    everything = log.list_queries(QueryLogQuery(), PageRequest(2))
    assert [r.query for r in everything.items] == ["SELECT 2", "SELECT 1"]
    assert everything.next_cursor is not None
    rest = log.list_queries(QueryLogQuery(), PageRequest(2, everything.next_cursor))
    assert [r.query for r in rest.items] == ["SELECT 0"]
    first = rest.items[0]
    assert (first.at, first.actor, first.tables, first.rows) == (AT, "ana", ("counts",), 0)
    by_ana = log.list_queries(QueryLogQuery(actor="ana"), PageRequest(10)).items
    assert [r.query for r in by_ana] == ["SELECT 2", "SELECT 0"]
    on_stops = log.list_queries(QueryLogQuery(table="stops"), PageRequest(10)).items
    assert [r.query for r in on_stops] == ["SELECT 2", "SELECT 1"]


def test_shoal_sql_queries_the_data_folder_and_the_query_is_audited(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    pd.DataFrame({"stop": ["a", "b"], "riders": [3, 5]}).to_parquet(data / "counts.parquet")
    runner = CliRunner()
    base = ["--home", str(tmp_path / "home")]
    env = {"SHOAL_DATA_DIR": str(data), "SHOAL_ACTOR": "ana"}
    result = runner.invoke(
        app, [*base, "sql", "SELECT sum(riders) AS total FROM counts", "-o", "json"], env=env
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == [{"total": 8}]
    refused = runner.invoke(app, [*base, "sql", "COPY counts TO 'x.csv'"], env=env)
    assert refused.exit_code == 2
    assert "only read-only queries" in refused.output
    logged = runner.invoke(app, [*base, "queries", "log", "-o", "json"], env=env)
    entries = json.loads(logged.stdout)["items"]
    assert [(e["actor"], e["status"], e["tables"]) for e in entries] == [
        ("ana", "refused", []),
        ("ana", "succeeded", ["counts"]),
    ]
    assert entries[1]["rows"] == 1
