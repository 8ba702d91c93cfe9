"""Registry service behaviour over the in-memory store and a memory:// artifact store."""

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LinearRegression

from shoal.errors import StorageError
from shoal.registry.packager import Packager, RegistrationRequest
from shoal.registry.records import ApprovalStatus, ModelVersion, VersionDraft
from shoal.registry.refs import ModelRef
from shoal.registry.service import RegistryService
from shoal.runtimes.base import LoadOptions
from shoal.runtimes.table import RuntimeTable
from shoal.storage.artifacts import FsspecArtifactStore
from shoal.storage.memory_registry import InMemoryRegistryStore


class FailingStore(InMemoryRegistryStore):
    """An in-memory store whose version writes fail while ``failing`` is set."""

    failing = True

    def add_versions(self, drafts: Sequence[VersionDraft]) -> list[ModelVersion]:
        if self.failing:
            raise StorageError("database is gone")
        return super().add_versions(drafts)


def _service(store: InMemoryRegistryStore, tmp_path: Path) -> tuple[RegistryService, Path]:
    root = tmp_path / "artifacts"
    artifacts = FsspecArtifactStore(str(root))
    packager = Packager(artifacts, RuntimeTable(), LoadOptions())
    clock = iter(datetime(2026, 1, 1, 0, i, tzinfo=UTC) for i in range(60))
    return RegistryService(store, packager, clock=lambda: next(clock)), root


def _model() -> LinearRegression:
    x = np.arange(20, dtype=float).reshape(10, 2)
    return LinearRegression().fit(x, x.sum(axis=1))


def test_a_failed_metadata_write_removes_the_artifacts_it_stored(tmp_path: Path) -> None:
    store = FailingStore()
    service, root = _service(store, tmp_path)
    service.create_tenant("acme", actor="t")
    with pytest.raises(StorageError, match="database is gone"):
        service.register(RegistrationRequest(ModelRef("acme", "m"), model=_model()), actor="t")
    assert not [p for p in root.rglob("*") if p.is_file() and ".staging" not in p.parts]


def test_an_artifact_shared_with_another_version_survives_a_failed_registration(
    tmp_path: Path,
) -> None:
    store = FailingStore()
    service, root = _service(store, tmp_path)
    service.create_tenant("acme", actor="t")
    model = _model()
    store.failing = False
    kept = service.register(RegistrationRequest(ModelRef("acme", "a"), model=model), actor="t")
    store.failing = True
    with pytest.raises(StorageError):
        service.register(RegistrationRequest(ModelRef("acme", "b"), model=model), actor="t")
    assert any(p.name == kept.artifact.digest for p in root.rglob("*"))


def test_rollback_skips_rejected_versions(tmp_path: Path) -> None:
    service, _ = _service(InMemoryRegistryStore(), tmp_path)
    service.create_tenant("acme", actor="t")
    ref = ModelRef("acme", "m")
    for _ in range(3):
        version = service.register(RegistrationRequest(ref, model=_model()), actor="t")
        service.set_alias(ModelRef.parse(version.ref), "production", actor="t")
    service.set_approval(ref.at_version(2), ApprovalStatus.REJECTED, actor="t")
    event = service.rollback(ref, actor="t")
    assert (event.previous_version, event.version) == (3, 1)
