"""One contract for FsspecArtifactStore over a local folder, memory:// and S3 (moto)."""

from __future__ import annotations

import hashlib
import io
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fsspec
import pytest

from shoal.errors import ArtifactError, CorruptArtifactError, NotFoundError, ValidationError
from shoal.storage.artifacts import FsspecArtifactStore

DATA = b"model bytes " * 1000
DIGEST = hashlib.sha256(DATA).hexdigest()


@dataclass
class Backend:
    store: FsspecArtifactStore
    url: str
    options: dict[str, Any]
    staging: Path

    def tamper(self, digest: str, data: bytes) -> None:
        fs, _ = fsspec.core.url_to_fs(self.url, **self.options)
        fs.pipe_file(self.store.path_of(digest), data)

    def files(self) -> list[str]:
        fs, root = fsspec.core.url_to_fs(self.url, **self.options)
        return sorted(str(path) for path in fs.find(root)) if fs.exists(root) else []


@pytest.fixture(params=["local", "memory", pytest.param("s3", marks=pytest.mark.s3)])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    staging = tmp_path / "staging"
    options: dict[str, Any] = {}
    if request.param == "local":
        url = str(tmp_path / "artifacts")
        staging = tmp_path / "artifacts" / ".staging"
    elif request.param == "memory":
        url = f"memory://shoal-test-{secrets.token_hex(4)}/artifacts"
    else:
        endpoint = request.getfixturevalue("s3_endpoint")
        url = f"s3://artifacts/{secrets.token_hex(4)}"
        options = {
            "client_kwargs": {"endpoint_url": endpoint, "region_name": "us-east-1"},
            "key": "test",
            "secret": "test",
        }
    store = FsspecArtifactStore(url, staging_dir=staging, storage_options=options)
    yield Backend(store, url, options, staging)
    if request.param == "memory":
        fs, root = fsspec.core.url_to_fs(url)
        if fs.exists(root):
            fs.rm(root, recursive=True)


class FailingStream(io.RawIOBase):
    """A stream that returns some bytes, then fails like a dropped connection."""

    def __init__(self) -> None:
        self._sent = False

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if self._sent:
            raise ConnectionResetError("upload interrupted")
        self._sent = True
        return b"partial bytes"


def test_bytes_round_trip_under_their_digest(backend: Backend) -> None:
    info = backend.store.put_bytes(DATA)
    assert (info.digest, info.size) == (DIGEST, len(DATA))
    assert backend.store.exists(DIGEST)
    assert backend.store.read_bytes(DIGEST) == DATA
    assert b"".join(backend.store.iter_chunks(DIGEST, chunk_size=1000)) == DATA
    assert backend.store.path_of(DIGEST).endswith(f"/sha256/{DIGEST[:2]}/{DIGEST}")


def test_files_and_streams_store_the_same_bytes_once(backend: Backend, tmp_path: Path) -> None:
    source = tmp_path / "model.bin"
    source.write_bytes(DATA)
    first = backend.store.put_file(source)
    second = backend.store.put_stream(io.BytesIO(DATA))
    third = backend.store.put_bytes(DATA)
    assert first == second == third
    assert list(backend.store.iter_digests()) == [DIGEST]


def test_a_tampered_blob_is_reported_as_corrupt(backend: Backend) -> None:
    backend.store.put_bytes(DATA)
    backend.tamper(DIGEST, b"evil" + DATA[4:])
    with pytest.raises(CorruptArtifactError, match=DIGEST):
        backend.store.read_bytes(DIGEST)
    with pytest.raises(CorruptArtifactError, match=DIGEST):
        list(backend.store.iter_chunks(DIGEST))


def test_an_unknown_digest_is_not_found(backend: Backend, tmp_path: Path) -> None:
    missing = "0" * 64
    assert not backend.store.exists(missing)
    with pytest.raises(NotFoundError, match=missing):
        backend.store.read_bytes(missing)
    with pytest.raises(NotFoundError, match=missing):
        backend.store.iter_chunks(missing)
    with pytest.raises(NotFoundError):
        backend.store.copy_to(missing, tmp_path / "out.bin")
    assert not (tmp_path / "out.bin").exists()
    assert backend.store.delete(missing) is False


@pytest.mark.parametrize("digest", ["abc", "A" * 64, "../" * 21 + "a", "g" * 64, ""])
def test_a_malformed_digest_is_rejected(backend: Backend, digest: str) -> None:
    with pytest.raises(ValidationError, match="64 lower-case hex"):
        backend.store.read_bytes(digest)
    with pytest.raises(ValidationError):
        backend.store.exists(digest)
    with pytest.raises(ValidationError):
        backend.store.delete(digest)


def test_copy_to_writes_the_verified_blob(backend: Backend, tmp_path: Path) -> None:
    backend.store.put_bytes(DATA)
    dest = tmp_path / "out" / "model.bin"
    info = backend.store.copy_to(DIGEST, dest)
    assert dest.read_bytes() == DATA
    assert info.size == len(DATA)
    assert [p.name for p in dest.parent.iterdir()] == ["model.bin"]


def test_copy_of_a_corrupt_blob_leaves_the_destination_untouched(
    backend: Backend, tmp_path: Path
) -> None:
    backend.store.put_bytes(DATA)
    backend.tamper(DIGEST, b"not the model")
    dest = tmp_path / "out" / "model.bin"
    with pytest.raises(CorruptArtifactError):
        backend.store.copy_to(DIGEST, dest)
    assert list(dest.parent.iterdir()) == []


def test_delete_removes_the_blob_and_iter_digests_lists_the_rest(backend: Backend) -> None:
    blobs = [b"one", b"two", b"three"]
    digests = sorted(backend.store.put_bytes(blob).digest for blob in blobs)
    assert list(backend.store.iter_digests()) == digests
    assert backend.store.delete(digests[0]) is True
    assert not backend.store.exists(digests[0])
    assert list(backend.store.iter_digests()) == digests[1:]


def test_a_failed_write_leaves_no_blob_and_no_temp_file(backend: Backend) -> None:
    backend.store.put_bytes(b"keep")
    before = backend.files()
    with pytest.raises(ArtifactError, match="upload interrupted"):
        backend.store.put_stream(FailingStream())  # type: ignore[arg-type]
    assert backend.files() == before
    assert list(backend.store.iter_digests()) == [hashlib.sha256(b"keep").hexdigest()]
    assert not backend.staging.exists() or list(backend.staging.iterdir()) == []
