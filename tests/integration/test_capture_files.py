"""Capture files: hourly partitions in Parquet or JSONL that read back exactly, on a local
folder and on a remote (memory) filesystem; paths only from valid names."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import orjson
import pyarrow.parquet as pq
import pytest

from shoal.errors import InvalidNameError, ValidationError
from shoal.observability.capture import CapturePartition, CaptureRecord
from shoal.storage.capture_writer import CaptureFiles, CaptureFormat, decode_tensors

HOUR = datetime(2026, 11, 22, 10, tzinfo=UTC)


def record(n: int, at: datetime, model: str = "churn") -> CaptureRecord:
    inputs = {
        "x": np.arange(6, dtype=np.float32).reshape(2, 3) + n,
        "ids": np.array([n, n + 1], dtype=np.int64),
        "text": np.array([b"caf\xc3\xa9", b"n"], dtype=np.object_),
    }
    outputs = {"label": np.array([True, False]), "score": np.array([[0.25], [n + 0.5]])}
    return CaptureRecord(f"inf-{n}", "acme", model, 3, at.timestamp(), inputs, outputs, 10)


def write(files: CaptureFiles, records: list[CaptureRecord]) -> list[str]:
    return [files.write(CapturePartition.of(r), [r]) for r in records]


@pytest.mark.parametrize("file_format", list(CaptureFormat))
def test_captured_tensors_read_back_exactly_in_either_format(
    tmp_path: Path, file_format: CaptureFormat
) -> None:
    files = CaptureFiles(str(tmp_path / "artifacts"), file_format=file_format)
    records = [record(n, HOUR + timedelta(minutes=n)) for n in range(3)]
    [path, *_] = write(files, records)
    expected = f"{tmp_path}/artifacts/capture/acme/churn/date=2026-11-22/hour=10/part-"
    assert path.startswith(expected)
    assert path.endswith(f".{file_format.value}")
    frame = files.read("acme", "churn")
    assert list(frame["inference_id"]) == ["inf-0", "inf-1", "inf-2"]
    assert list(frame["model_version"]) == [3, 3, 3]
    assert [t.to_pydatetime() for t in frame["timestamp"]] == [
        HOUR + timedelta(minutes=n) for n in range(3)
    ]
    for row, sent in zip(frame.to_dict("records"), records, strict=True):
        for document, tensors in ((row["request"], sent.request), (row["response"], sent.response)):
            assert not isinstance(tensors, bytes)
            decoded = decode_tensors(document)
            assert decoded.keys() == tensors.keys()
            for name, array in tensors.items():
                assert decoded[name].dtype == array.dtype
                np.testing.assert_array_equal(decoded[name], array)


@pytest.mark.parametrize("file_format", list(CaptureFormat))
def test_json_bodies_are_kept_as_sent_and_read_back_as_tensors(
    tmp_path: Path, file_format: CaptureFormat
) -> None:
    request = b'{"id": "a",\n "inputs": [{"name": "x", "datatype": "FP64", "shape": [2, 2],\n'
    request += b' "data": [[1.5, 2], [3, 4]]}, {"name": "s", "datatype": "BYTES", "shape": [1],'
    request += b' "data": ["caf\xc3\xa9"]}]}'
    response = b'{"model_name":"acme/churn","model_version":"3","outputs":[{"name":"label",'
    response += b'"datatype":"INT64","shape":[2],"data":[1,0]}],"id":"a"}'
    files = CaptureFiles(str(tmp_path), file_format=file_format)
    sent = CaptureRecord("a", "acme", "churn", 3, HOUR.timestamp(), request, response, 10)
    write(files, [sent])
    [row] = files.read("acme", "churn").to_dict("records")
    if file_format is CaptureFormat.PARQUET:  # byte for byte what was sent and returned
        assert (row["request"].encode(), row["response"].encode()) == (request, response)
    assert orjson.loads(row["request"]) == orjson.loads(request)
    assert orjson.loads(row["response"]) == orjson.loads(response)
    inputs = decode_tensors(row["request"])
    np.testing.assert_array_equal(inputs["x"], np.array([[1.5, 2.0], [3.0, 4.0]]))
    assert inputs["s"].tolist() == ["café".encode()]
    np.testing.assert_array_equal(decode_tensors(row["response"])["label"], [1, 0])


def test_a_parquet_file_is_one_table_with_a_typed_schema(tmp_path: Path) -> None:
    files = CaptureFiles(str(tmp_path))
    records = [record(n, HOUR) for n in range(4)]
    path = files.write(CapturePartition.of(records[0]), records)
    table = pq.read_table(path)
    assert table.num_rows == 4
    assert str(table.schema.field("timestamp").type) == "timestamp[us, tz=UTC]"
    assert table.column("request")[0].as_py().startswith('{"inputs":[{"name":"x","datatype":"FP32"')


def test_reading_an_hour_reads_only_that_hours_files(tmp_path: Path) -> None:
    files = CaptureFiles(str(tmp_path))
    at = [
        HOUR - timedelta(minutes=1),
        HOUR,
        HOUR + timedelta(minutes=59),
        HOUR + timedelta(hours=1),
    ]
    write(files, [record(n, when) for n, when in enumerate(at)])
    assert list(files.read_hour("acme", "churn", HOUR)["inference_id"]) == ["inf-1", "inf-2"]
    assert len(files.files("acme", "churn")) == 4
    assert len(files.files("acme", "churn", HOUR, HOUR + timedelta(hours=1))) == 2
    assert files.read("acme", "fraud").empty  # never captured: an empty frame, not an error


def test_a_file_being_written_is_never_read(tmp_path: Path) -> None:
    files = CaptureFiles(str(tmp_path))
    [path] = write(files, [record(0, HOUR)])
    folder = Path(path).parent
    (folder / ".part-20261122T100000Z-x-000001.parquet.tmp").write_bytes(b"half a file")
    assert list(files.read("acme", "churn")["inference_id"]) == ["inf-0"]


def test_a_remote_filesystem_gets_whole_files(tmp_path: Path) -> None:
    url = f"memory://capture-test-{uuid.uuid4().hex}"
    files = CaptureFiles(url, file_format=CaptureFormat.JSONL)
    write(files, [record(n, HOUR) for n in range(2)])
    assert list(files.read_hour("acme", "churn", HOUR)["inference_id"]) == ["inf-0", "inf-1"]


@pytest.mark.parametrize(
    ("tenant", "model"), [("..", "churn"), ("acme", "../../etc"), ("acme/x", "m"), ("Acme", "m")]
)
def test_paths_are_built_only_from_valid_names(tmp_path: Path, tenant: str, model: str) -> None:
    files = CaptureFiles(str(tmp_path))
    with pytest.raises(InvalidNameError):
        files.write(CapturePartition(tenant, model, HOUR), [record(0, HOUR)])
    with pytest.raises(InvalidNameError):
        files.read(tenant, model)
    assert not (tmp_path / "capture").exists()


def test_a_body_that_is_not_utf8_fails_the_file_and_publishes_nothing(tmp_path: Path) -> None:
    files = CaptureFiles(str(tmp_path))
    good = CaptureRecord("a", "acme", "churn", 3, HOUR.timestamp(), b'{"inputs":[]}', b"{}", 10)
    bad = good._replace(inference_id="b", request=b'{"inputs":"\xff"}')
    with pytest.raises(ValidationError, match="not UTF-8"):
        files.write(CapturePartition.of(good), [good, bad])
    assert files.files("acme", "churn") == []
