"""``DataCatalog``: the tables SQL can name: files in a data folder, blobs in the artifact store.

In the folder, ``sales.parquet`` or ``stops.csv`` is a table named after the file, and a
sub-folder ``events/`` of Parquet (or CSV) files, hive-partitioned or not, is one table
``events``. Artifact tables are named explicitly (``name -> digest``), copied out of the
store once, verified, into a local cache, since DuckDB reads files.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from pathlib import Path

from shoal.errors import NotFoundError, ValidationError
from shoal.queries.records import TableFormat, TableSource
from shoal.registry.store import ArtifactStore

logger = logging.getLogger(__name__)

_TABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
_SUFFIXES = {".parquet": TableFormat.PARQUET, ".pq": TableFormat.PARQUET, ".csv": TableFormat.CSV}


def check_table_name(name: str) -> str:
    """``name`` if it is a plain SQL identifier (letters, digits, underscores)."""
    if not isinstance(name, str) or not _TABLE_NAME.fullmatch(name):
        raise ValidationError(
            f"table name {name!r} must be a letter or underscore then letters, digits or "
            "underscores (at most 63)"
        )
    return name


class DataCatalog:
    """Tables from ``folder`` (when given) and ``artifact_tables`` (name -> sha256 digest).

    ``cache_dir`` receives the artifact tables' files, named by digest.
    """

    def __init__(
        self,
        folder: Path | None,
        artifacts: ArtifactStore | None = None,
        artifact_tables: Mapping[str, str] | None = None,
        cache_dir: Path | None = None,
    ) -> None:
        self._folder = folder.resolve() if folder is not None else None
        self._artifacts = artifacts
        self._artifact_tables = {check_table_name(k): v for k, v in (artifact_tables or {}).items()}
        if self._artifact_tables and (artifacts is None or cache_dir is None):
            raise ValidationError("artifact tables need an artifact store and a cache folder")
        self._cache_dir = cache_dir

    @property
    def readable_folders(self) -> tuple[Path, ...]:
        """Every folder queries may read files from (and nothing else)."""
        folders = [self._folder] if self._folder is not None else []
        if self._artifact_tables and self._cache_dir is not None:
            folders.append(self._cache_dir.resolve())
        return tuple(folders)

    def tables(self) -> dict[str, TableSource]:
        """Every table by name; an artifact table hides a folder table of the same name."""
        found = self._folder_tables()
        for name, digest in self._artifact_tables.items():
            found[name] = self._artifact_table(name, digest)
        return dict(sorted(found.items()))

    def _folder_tables(self) -> dict[str, TableSource]:
        folder = self._folder
        if folder is None or not folder.is_dir():
            return {}
        found: dict[str, TableSource] = {}
        for entry in sorted(folder.iterdir()):
            name = entry.stem if entry.is_file() else entry.name
            if entry.name.startswith(".") or not _TABLE_NAME.fullmatch(name):
                continue
            fmt = _SUFFIXES.get(entry.suffix.lower()) if entry.is_file() else None
            if entry.is_dir():
                fmt = _folder_format(entry)
            if fmt is None:
                continue
            if name in found:
                logger.warning(
                    "table %r is defined twice in %s; keeping %s", name, folder, found[name].path
                )
                continue
            found[name] = TableSource(name, entry, fmt, "folder")
        return found

    def _artifact_table(self, name: str, digest: str) -> TableSource:
        digest, _, suffix = digest.partition(".")
        fmt = (
            TableFormat(suffix) if suffix in {f.value for f in TableFormat} else TableFormat.PARQUET
        )
        if self._artifacts is None or self._cache_dir is None:  # checked in __init__ too
            raise ValidationError("artifact tables need an artifact store and a cache folder")
        target = self._cache_dir / f"{digest}.{fmt.value}"
        if not target.exists():
            if not self._artifacts.exists(digest):
                raise NotFoundError(f"table {name!r}: artifact {digest} does not exist")
            self._artifacts.copy_to(digest, target)
        return TableSource(name, target.resolve(), fmt, f"artifact:{digest}")


def _folder_format(folder: Path) -> TableFormat | None:
    for fmt, pattern in ((TableFormat.PARQUET, "*.parquet"), (TableFormat.CSV, "*.csv")):
        if next(folder.rglob(pattern), None) is not None:
            return fmt
    return None
