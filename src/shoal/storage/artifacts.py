"""``FsspecArtifactStore``: content-addressed, verified blobs on any fsspec filesystem.

Layout: ``<root>/sha256/<first two hex digits>/<digest>``. A write streams into a local
temporary file while hashing, then publishes it whole: on a local root by ``os.replace`` from
``<root>/.staging`` (same filesystem, so the rename is atomic); elsewhere by one upload to the
final key (an S3 PUT is atomic), skipped when the blob is there already. So a blob under the
layout is always complete, and temporary files never appear in it.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import re
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any, BinaryIO

import fsspec
from fsspec.implementations.local import LocalFileSystem

from shoal.errors import ArtifactError, CorruptArtifactError, NotFoundError, ValidationError
from shoal.registry.records import ArtifactInfo

CHUNK_SIZE = 1 << 20
_DIGEST = re.compile(r"[0-9a-f]{64}")


def check_digest(digest: str) -> str:
    """``digest`` if it is a sha256 hex digest (which also makes it a safe path part)."""
    if not isinstance(digest, str) or not _DIGEST.fullmatch(digest):
        raise ValidationError(
            f"artifact digest must be 64 lower-case hex characters, got {digest!r}"
        )
    return digest


class FsspecArtifactStore:
    """An ``ArtifactStore`` under ``url``: a local path, ``file://``, ``memory://``, ``s3://...``.

    ``staging_dir`` holds temporary files while uploading to a remote filesystem (default: the
    system temp folder); a local root always stages in ``<root>/.staging`` so renames stay atomic.
    """

    def __init__(
        self,
        url: str,
        staging_dir: Path | None = None,
        storage_options: Mapping[str, Any] | None = None,
    ) -> None:
        self._url = url
        try:
            fs, root = fsspec.core.url_to_fs(url, **dict(storage_options or {}))
        except (ValueError, ImportError, OSError) as exc:
            raise ArtifactError(f"cannot open artifact store {url!r}: {exc}") from exc
        self._fs = fs
        self._local = isinstance(fs, LocalFileSystem)
        self._root = str(root).rstrip("/")
        if self._local:
            self._staging = Path(self._root) / ".staging"
        else:
            self._staging = staging_dir or Path(tempfile.gettempdir())

    @property
    def url(self) -> str:
        return self._url

    def path_of(self, digest: str) -> str:
        """Where the blob with ``digest`` lives on the store's filesystem."""
        check_digest(digest)
        return f"{self._root}/sha256/{digest[:2]}/{digest}"

    def put_file(self, path: Path) -> ArtifactInfo:
        try:
            with Path(path).open("rb") as stream:
                return self.put_stream(stream)
        except FileNotFoundError as exc:
            raise NotFoundError(f"file {str(path)!r} does not exist") from exc

    def put_bytes(self, data: bytes) -> ArtifactInfo:
        return self.put_stream(io.BytesIO(data))

    def put_stream(self, stream: BinaryIO) -> ArtifactInfo:
        with self._errors("store an artifact"):
            self._staging.mkdir(parents=True, exist_ok=True)
            fd, temp_name = tempfile.mkstemp(prefix="put-", suffix=".tmp", dir=self._staging)
            temp = Path(temp_name)
            try:
                with os.fdopen(fd, "wb") as out:
                    digest, size = _copy_hashing(stream, out)
                    if self._local:
                        out.flush()
                        os.fsync(out.fileno())
                self._publish(temp, self.path_of(digest))
            finally:
                temp.unlink(missing_ok=True)
        return ArtifactInfo(digest, size)

    def _publish(self, temp: Path, final: str) -> None:
        if self._local:
            if os.path.exists(final):
                return
            Path(final).parent.mkdir(parents=True, exist_ok=True)
            os.replace(temp, final)
            _fsync_dir(Path(final).parent)
        elif not self._fs.exists(final):
            self._fs.put_file(str(temp), final)

    def exists(self, digest: str) -> bool:
        path = self.path_of(digest)
        with self._errors(f"look up artifact {digest}"):
            return bool(self._fs.exists(path))

    def read_bytes(self, digest: str) -> bytes:
        return b"".join(self.iter_chunks(digest))

    def iter_chunks(self, digest: str, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
        # Opened here, not in the generator, so a missing blob fails at the call.
        stream = self._open(digest)
        return self._verified_chunks(digest, stream, chunk_size)

    def _open(self, digest: str) -> IO[bytes]:
        path = self.path_of(digest)
        try:
            return self._fs.open(path, "rb")  # type: ignore[no-any-return]
        except FileNotFoundError as exc:
            raise NotFoundError(f"artifact {digest} does not exist") from exc
        except OSError as exc:
            raise ArtifactError(
                f"could not read artifact {digest} in {self._url!r}: {exc}"
            ) from exc

    def _verified_chunks(self, digest: str, stream: IO[bytes], chunk_size: int) -> Iterator[bytes]:
        hasher = hashlib.sha256()
        with stream, self._errors(f"read artifact {digest}"):
            while chunk := stream.read(chunk_size):
                hasher.update(chunk)
                yield chunk
        if hasher.hexdigest() != digest:
            raise CorruptArtifactError(
                f"artifact {digest} is corrupt: its bytes hash to {hasher.hexdigest()}"
            )

    def copy_to(self, digest: str, dest: Path) -> ArtifactInfo:
        dest = Path(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        chunks = self.iter_chunks(digest)
        fd, temp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
        temp = Path(temp_name)
        try:
            size = 0
            with os.fdopen(fd, "wb") as out:
                for chunk in chunks:
                    out.write(chunk)
                    size += len(chunk)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temp, dest)
        finally:
            temp.unlink(missing_ok=True)
        return ArtifactInfo(digest, size)

    def delete(self, digest: str) -> bool:
        path = self.path_of(digest)
        with self._errors(f"delete artifact {digest}"):
            if not self._fs.exists(path):
                return False
            self._fs.rm_file(path)
            return True

    def iter_digests(self) -> Iterator[str]:
        base = f"{self._root}/sha256"
        with self._errors("list artifacts"):
            if not self._fs.exists(base):
                return iter(())
            found = self._fs.find(base)
        digests = sorted(
            name
            for name in (str(path).rstrip("/").rsplit("/", 1)[-1] for path in found)
            if _DIGEST.fullmatch(name)
        )
        return iter(digests)

    @contextlib.contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        try:
            yield
        except OSError as exc:
            raise ArtifactError(f"could not {doing} in {self._url!r}: {exc}") from exc


def _copy_hashing(stream: BinaryIO, out: IO[bytes]) -> tuple[str, int]:
    hasher = hashlib.sha256()
    size = 0
    while chunk := stream.read(CHUNK_SIZE):
        hasher.update(chunk)
        out.write(chunk)
        size += len(chunk)
    return hasher.hexdigest(), size


def _fsync_dir(path: Path) -> None:
    # Makes the rename itself durable; not every platform lets a directory be opened.
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
