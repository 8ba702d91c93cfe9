"""Version numbers stay gap-free when two processes register versions on one SQLite file."""

from __future__ import annotations

import multiprocessing
from datetime import UTC, datetime
from pathlib import Path

from shoal.registry.records import ArtifactInfo, VersionDraft
from shoal.runtimes.signature import Signature
from shoal.storage.engine import create_engine
from shoal.storage.migrate import upgrade
from shoal.storage.sql_registry import SqlRegistryStore

AT = datetime(2025, 1, 1, tzinfo=UTC)
PER_PROCESS = 60


def _register(url: str, worker: int) -> list[int]:
    engine = create_engine(url)
    store = SqlRegistryStore(engine)
    draft = VersionDraft(
        "acme", "fraud", "sklearn", ArtifactInfo("ab" * 32, 1), Signature(), AT, f"w{worker}"
    )
    numbers = []
    for i in range(PER_PROCESS):
        # Single drafts and small batches, so the processes interleave many transactions.
        batch = [draft] * (1 + i % 3)
        numbers.extend(version.version for version in store.add_versions(batch))
    engine.dispose()
    return numbers


def test_two_processes_get_versions_one_to_n_without_gaps_or_duplicates(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'registry.db'}"
    engine = create_engine(url)
    upgrade(engine)
    SqlRegistryStore(engine).add_tenant("acme", "", "admin", AT)
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        results = pool.starmap(_register, [(url, 0), (url, 1)])
    numbers = sorted(results[0] + results[1])
    assert numbers == list(range(1, len(numbers) + 1))
    model = SqlRegistryStore(engine).find_model("acme", "fraud")
    assert model is not None
    assert model.latest_version == len(numbers)
    engine.dispose()
