"""Input data frozen into the content-addressed store: file sets (by manifest) and frames.

A file snapshot is a JSON manifest ``{"files": {relative name: {"digest", "size"}}}`` stored
like any blob; its digest is the snapshot's id. Frozen copies are materialised once per digest
under ``<scratch>/snapshots/<digest>/`` (read-only use), so re-runs read the same bytes.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import tempfile
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

import orjson

from shoal.errors import NotFoundError, ValidationError
from shoal.pipelines.environment import StepEnvironment

if TYPE_CHECKING:
    import pandas as pd

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def check_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValidationError(
            f"snapshot name {name!r} must be 1-64 of A-Z a-z 0-9 _ . - (starting alphanumeric)"
        )
    return name


def _files_of(paths: list[Path]) -> dict[str, Path]:
    """Relative name -> file: a file keeps its name, a folder's files their path inside it."""
    found: dict[str, Path] = {}
    for path in paths:
        if path.is_dir():
            for file in sorted(p for p in path.rglob("*") if p.is_file()):
                found[f"{path.name}/{file.relative_to(path).as_posix()}"] = file
        elif path.is_file():
            found[path.name] = path
        else:
            raise NotFoundError(f"cannot snapshot {str(path)!r}: no such file or folder")
    if not found:
        raise ValidationError("a snapshot needs at least one file")
    return found


def freeze_files(paths: list[Path], env: StepEnvironment) -> tuple[str, int]:
    """Store every file and a manifest of them; returns the manifest's digest and total size."""
    manifest: dict[str, dict[str, object]] = {}
    total = 0
    for name, file in _files_of(paths).items():
        if name in manifest:
            raise ValidationError(f"two snapshot files would both be named {name!r}")
        info = env.artifacts.put_file(file)
        manifest[name] = {"digest": info.digest, "size": info.size}
        total += info.size
    data = orjson.dumps({"files": manifest}, option=orjson.OPT_SORT_KEYS)
    return env.artifacts.put_bytes(data).digest, total


def materialise_files(digest: str, env: StepEnvironment) -> Path:
    """The folder holding the snapshot's files (made once per digest, atomically)."""
    folder = env.scratch / "snapshots" / digest
    if folder.exists():
        return folder
    manifest = orjson.loads(env.artifacts.read_bytes(digest))
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".snapshot-", dir=folder.parent))
    try:
        for name, entry in sorted(manifest["files"].items()):
            relative = PurePosixPath(name)
            if relative.is_absolute() or ".." in relative.parts:
                raise ValidationError(f"snapshot {digest} names an unsafe path {name!r}")
            env.artifacts.copy_to(str(entry["digest"]), staging.joinpath(*relative.parts))
        try:
            os.replace(staging, folder)
        except OSError:
            if not folder.exists():  # another worker published the same snapshot first
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder


def combine(snapshot_ids: list[str], env: StepEnvironment) -> str:
    """One id for several snapshots: the digest of the stored, sorted list of their ids."""
    data = orjson.dumps({"snapshots": sorted(snapshot_ids)})
    return env.artifacts.put_bytes(data).digest


def freeze_frame(frame: pd.DataFrame, env: StepEnvironment) -> tuple[str, int]:
    import pandas as pd

    if not isinstance(frame, pd.DataFrame):
        raise ValidationError(
            f"snapshot_frame needs a function returning a DataFrame, got {type(frame).__name__}"
        )
    buffer = io.BytesIO()
    frame.to_parquet(buffer, engine="pyarrow")
    info = env.artifacts.put_bytes(buffer.getvalue())
    return info.digest, info.size


def read_frame(digest: str, env: StepEnvironment) -> pd.DataFrame:
    import pandas as pd

    return pd.read_parquet(io.BytesIO(env.artifacts.read_bytes(digest)), engine="pyarrow")
