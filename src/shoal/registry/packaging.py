"""Model packages: a version's folder packed into one deterministic tar, and unpacked safely."""

from __future__ import annotations

import os
import shutil
import tarfile
import tempfile
from pathlib import Path

from shoal.errors import ArtifactError

PACKAGE_SUFFIX = ".tar"


def _normalise(info: tarfile.TarInfo) -> tarfile.TarInfo:
    # Same files in, same bytes out: identical models share one content-addressed blob.
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mode = 0o755 if info.isdir() else 0o644
    return info


def pack(folder: Path, dest: Path) -> Path:
    """Pack every file under ``folder`` (sorted, normalised metadata) into the tar ``dest``."""
    with tarfile.open(dest, "w", format=tarfile.PAX_FORMAT) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_symlink():
                raise ArtifactError(f"model packages cannot hold symlinks: {path}")
            archive.add(
                path,
                arcname=path.relative_to(folder).as_posix(),
                recursive=False,
                filter=_normalise,
            )
    return dest


def unpack(package: Path, dest: Path) -> Path:
    """Unpack ``package`` into ``dest`` atomically: the folder appears complete or not at all.

    The ``data`` extraction filter refuses absolute paths, ``..`` members, links out of the
    folder and device files, so a crafted package cannot write outside ``dest``.
    """
    if dest.exists():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".unpack-", dir=dest.parent))
    try:
        with tarfile.open(package, "r") as archive:
            archive.extractall(staging, filter="data")
        try:
            os.replace(staging, dest)
        except OSError:
            if not dest.exists():  # another process won the race when dest exists now
                raise
    except (tarfile.TarError, OSError) as exc:
        raise ArtifactError(f"cannot unpack model package {package.name}: {exc}") from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return dest
