"""Loads registered versions: fetch the verified package once into a local cache, then load it."""

from __future__ import annotations

import dataclasses
import tempfile
from dataclasses import dataclass
from pathlib import Path

from shoal.registry import packaging
from shoal.registry.records import ModelVersion
from shoal.registry.store import ArtifactStore
from shoal.runtimes.base import LoadedModel, LoadOptions
from shoal.runtimes.compact import FILE as COMPACT_FILE
from shoal.runtimes.fast_path import FAST_DIR
from shoal.runtimes.table import RuntimeTable


@dataclass(frozen=True, slots=True)
class LoadedVersion:
    """A version and its model in memory."""

    version: ModelVersion
    model: LoadedModel


QUICK_LOAD_BYTES = 1 << 20
"""A compact model file up to this size loads in ~0.3 ms at most (read, viewed in place)."""


class ModelLoader:
    """Materialises packages under ``cache_dir/<digest>/`` (shared by every process) and loads them.

    The cache is keyed by content digest, so a folder never changes once it exists and two
    versions with the same bytes share it.
    """

    def __init__(
        self,
        artifacts: ArtifactStore,
        runtimes: RuntimeTable,
        cache_dir: Path,
        options: LoadOptions,
    ):
        self._artifacts = artifacts
        self._runtimes = runtimes
        self._cache_dir = cache_dir
        self._options = options

    def warm_up(self, formats: tuple[str, ...]) -> None:
        """Import these runtimes' frameworks now (a server calls this in the background)."""
        self._runtimes.warm_up(formats)

    def materialise(self, version: ModelVersion) -> Path:
        """The local folder holding the unpacked, digest-verified package of ``version``."""
        folder = self._cache_dir / "packages" / version.artifact.digest
        if folder.exists():
            return folder
        with tempfile.TemporaryDirectory(prefix=".fetch-", dir=self._ensure_cache()) as tmp:
            archive = Path(tmp) / f"package{packaging.PACKAGE_SUFFIX}"
            self._artifacts.copy_to(version.artifact.digest, archive)
            return packaging.unpack(archive, folder)

    def loads_quickly(self, version: ModelVersion) -> bool:
        """Whether loading ``version`` is known to take well under a millisecond: its package is
        unpacked here already and has a compact fast form of at most ``QUICK_LOAD_BYTES``, which
        this loader serves (one small file read, no framework). Such loads can run on the event
        loop."""
        if not self._options.prefer_fast or version.tags.get("fast_path") != "compact":
            return False
        folder = self._cache_dir / "packages" / version.artifact.digest
        try:
            return (folder / FAST_DIR / COMPACT_FILE).stat().st_size <= QUICK_LOAD_BYTES
        except OSError:  # not unpacked here yet (a fetch first), or an older package layout
            return False

    def verify(self, version: ModelVersion, trust: bool = False) -> LoadedVersion:
        """Re-read the package from the artifact store (digest checked), bypassing the local
        cache, and load it: proves the stored version is intact and loadable."""
        with tempfile.TemporaryDirectory(prefix=".verify-", dir=self._ensure_cache()) as tmp:
            archive = Path(tmp) / f"package{packaging.PACKAGE_SUFFIX}"
            self._artifacts.copy_to(version.artifact.digest, archive)
            folder = packaging.unpack(archive, Path(tmp) / "package")
            runtime = self._runtimes.get(version.format)
            return LoadedVersion(version, runtime.load(folder, self._options_for(trust)))

    def _ensure_cache(self) -> Path:
        self._cache_dir.mkdir(parents=True, exist_ok=True)
        return self._cache_dir

    def _options_for(self, trust: bool) -> LoadOptions:
        if trust and not self._options.allow_pickle:
            return dataclasses.replace(self._options, allow_pickle=True)
        return self._options

    def load(self, version: ModelVersion, trust: bool = False) -> LoadedVersion:
        """Load ``version``; ``trust`` additionally allows pickle for this one call."""
        runtime = self._runtimes.get(version.format)
        return LoadedVersion(
            version, runtime.load(self.materialise(version), self._options_for(trust))
        )
