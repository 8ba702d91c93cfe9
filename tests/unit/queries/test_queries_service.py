from pathlib import Path

import pandas as pd
import pytest

from shoal.errors import NotFoundError, ValidationError
from shoal.queries import (
    DataCatalog,
    QueryDraft,
    QueryLogQuery,
    QueryRecord,
    QueryService,
    QueryStatus,
)
from shoal.registry.records import Page, PageRequest
from shoal.storage.artifacts import FsspecArtifactStore


class MemoryQueryLog:
    """A tiny real QueryLog: entries in a list, newest first."""

    def __init__(self) -> None:
        self.entries: list[QueryRecord] = []

    def append(self, draft: QueryDraft) -> QueryRecord:
        record = QueryRecord(len(self.entries) + 1, *(getattr(draft, f) for f in draft.__slots__))  # type: ignore[attr-defined]
        self.entries.append(record)
        return record

    def list_queries(self, query: QueryLogQuery, page: PageRequest) -> Page[QueryRecord]:
        found = [
            e
            for e in reversed(self.entries)
            if (query.actor is None or e.actor == query.actor)
            and (query.table is None or query.table in e.tables)
        ]
        return Page(tuple(found[: page.limit]))


@pytest.fixture
def data(tmp_path: Path) -> Path:
    folder = tmp_path / "data"
    folder.mkdir()
    pd.DataFrame({"stop": ["a", "b", "c"], "riders": [3, 5, 7]}).to_parquet(
        folder / "counts.parquet"
    )
    (folder / "stops.csv").write_text("stop,name\na,Central\nb,Harbour\n")
    events = folder / "events" / "day=2024-01-01"
    events.mkdir(parents=True)
    pd.DataFrame({"n": [1, 2]}).to_parquet(events / "part-0.parquet")
    return folder


@pytest.fixture
def log() -> MemoryQueryLog:
    return MemoryQueryLog()


def test_sql_joins_parquet_csv_and_partitioned_folders_and_is_audited(
    data: Path, log: MemoryQueryLog
) -> None:
    service = QueryService(DataCatalog(data), log, "ana")
    assert sorted(service.tables()) == ["counts", "events", "stops"]
    result = service.sql(
        "SELECT s.name, c.riders FROM counts c JOIN stops s USING (stop) ORDER BY riders"
    )
    assert result.frame.to_dict("records") == [
        {"name": "Central", "riders": 3},
        {"name": "Harbour", "riders": 5},
    ]
    assert service.sql("SELECT sum(n) AS n, min(day) AS day FROM events").frame.iloc[0].n == 3
    first = log.entries[0]
    assert (first.actor, first.tables, first.rows, first.status) == (
        "ana",
        ("counts", "stops"),
        2,
        QueryStatus.SUCCEEDED,
    )
    assert first.query.startswith("SELECT s.name")


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("COPY (SELECT 1) TO 'out.csv'", "only read-only queries"),
        ("SELECT 1; SELECT 2", "exactly one SQL statement"),
        ("ATTACH 'other.db'", "only read-only queries"),
    ],
)
def test_statements_that_are_not_one_read_only_query_are_refused_and_audited(
    data: Path, log: MemoryQueryLog, query: str, words: str
) -> None:
    service = QueryService(DataCatalog(data), log, "ana")
    with pytest.raises(ValidationError, match=words):
        service.sql(query)
    assert log.entries[-1].status is QueryStatus.REFUSED


def test_files_outside_the_data_folder_cannot_be_read(
    data: Path, log: MemoryQueryLog, tmp_path: Path
) -> None:
    secret = tmp_path / "secret.csv"
    secret.write_text("password\nhunter2\n")
    service = QueryService(DataCatalog(data), log, "ana")
    with pytest.raises(ValidationError, match="query failed"):
        service.sql(f"SELECT * FROM read_csv_auto('{secret}')")
    assert log.entries[-1].status is QueryStatus.FAILED
    inside = service.sql(f"SELECT count(*) AS n FROM read_parquet('{data}/counts.parquet')")
    assert inside.frame.iloc[0].n == 3


def test_an_unknown_table_names_the_tables_there_are(data: Path, log: MemoryQueryLog) -> None:
    service = QueryService(DataCatalog(data), log, "ana")
    with pytest.raises(ValidationError, match=r"unknown table.*'count'.*counts, events, stops"):
        service.sql("SELECT * FROM count")
    assert log.entries[-1].tables == ("count",)
    assert log.entries[-1].rows is None


def test_artifact_tables_are_queried_by_name(tmp_path: Path, log: MemoryQueryLog) -> None:
    artifacts = FsspecArtifactStore(str(tmp_path / "artifacts"))
    frame = pd.DataFrame({"customer": ["acme", "globex"], "score": [0.1, 0.9]})
    frame.to_parquet(tmp_path / "scores.parquet")
    digest = artifacts.put_file(tmp_path / "scores.parquet").digest
    catalog = DataCatalog(None, artifacts, {"scores": digest}, tmp_path / "cache")
    service = QueryService(catalog, log, "ana")
    out = service.sql("SELECT customer FROM scores WHERE score > 0.5")
    assert out.frame["customer"].tolist() == ["globex"]
    missing = DataCatalog(None, artifacts, {"gone": "0" * 64}, tmp_path / "cache")
    with pytest.raises(NotFoundError, match=r"artifact 0{64} does not exist"):
        QueryService(missing, log, "ana").sql("SELECT * FROM gone")
