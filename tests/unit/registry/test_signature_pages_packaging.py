import io
import tarfile
from pathlib import Path

import numpy as np
import pytest

from shoal.errors import ArtifactError, ValidationError
from shoal.registry import packaging
from shoal.registry.pages import check_page, decode_cursor, encode_cursor
from shoal.registry.records import PageRequest
from shoal.runtimes.signature import (
    Signature,
    TensorSpec,
    check_signature,
    datatype_of,
    infer_signature,
)


@pytest.mark.parametrize(
    ("array", "datatype"),
    [
        (np.zeros(2, dtype=np.float32), "FP32"),
        (np.zeros(2, dtype=np.float64), "FP64"),
        (np.zeros(2, dtype=np.int64), "INT64"),
        (np.zeros(2, dtype=np.uint8), "UINT8"),
        (np.zeros(2, dtype=bool), "BOOL"),
        (np.array(["a", "b"]), "BYTES"),
        (np.array([b"a"]), "BYTES"),
    ],
)
def test_numpy_dtypes_map_to_inference_protocol_datatypes(array: np.ndarray, datatype: str) -> None:
    assert datatype_of(array) == datatype


def test_inferred_signatures_make_the_row_dimension_variable() -> None:
    signature = infer_signature(
        {"input": np.zeros((5, 16), dtype=np.float32)}, {"label": np.zeros(5, dtype=np.int64)}
    )
    assert signature.inputs == (TensorSpec("input", "FP32", (-1, 16)),)
    assert signature.outputs == (TensorSpec("label", "INT64", (-1,)),)
    assert Signature.from_dict(signature.to_dict()) == signature


def test_signatures_with_unknown_datatypes_or_duplicate_names_are_refused() -> None:
    with pytest.raises(ValidationError, match="unknown datatype 'FLOAT'"):
        check_signature(Signature(inputs=(TensorSpec("x", "FLOAT", (-1,)),)))
    with pytest.raises(ValidationError, match="duplicate input names"):
        check_signature(Signature(inputs=(TensorSpec("x", "FP32", ()),) * 2))


def test_cursors_round_trip_and_tampered_cursors_are_refused() -> None:
    assert decode_cursor(encode_cursor("acme", "churn", 3)) == ["acme", "churn", 3]
    with pytest.raises(ValidationError, match="invalid page cursor"):
        decode_cursor("not-a-cursor!")
    with pytest.raises(ValidationError, match="between 1 and 1000"):
        check_page(PageRequest(limit=0))


def _folder(tmp_path: Path) -> Path:
    folder = tmp_path / "model"
    (folder / "enc").mkdir(parents=True)
    (folder / "model.bin").write_bytes(b"weights")
    (folder / "enc" / "vocab.txt").write_text("a\nb\n")
    return folder


def test_packing_the_same_files_twice_gives_identical_bytes(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    first = packaging.pack(folder, tmp_path / "a.tar").read_bytes()
    (folder / "model.bin").touch()  # a new mtime must not change the package
    second = packaging.pack(folder, tmp_path / "b.tar").read_bytes()
    assert first == second


def test_unpacking_restores_every_file(tmp_path: Path) -> None:
    archive = packaging.pack(_folder(tmp_path), tmp_path / "p.tar")
    dest = packaging.unpack(archive, tmp_path / "out")
    assert (dest / "model.bin").read_bytes() == b"weights"
    assert (dest / "enc" / "vocab.txt").read_text() == "a\nb\n"


def test_a_package_with_a_path_escaping_member_is_refused(tmp_path: Path) -> None:
    archive = tmp_path / "evil.tar"
    with tarfile.open(archive, "w") as tar:
        info = tarfile.TarInfo("../escaped.txt")
        info.size = 4
        tar.addfile(info, io.BytesIO(b"evil"))
    with pytest.raises(ArtifactError, match="cannot unpack"):
        packaging.unpack(archive, tmp_path / "out" / "pkg")
    assert not (tmp_path / "out" / "escaped.txt").exists()
    assert not (tmp_path / "out" / "pkg").exists()
