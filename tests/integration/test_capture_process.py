"""The capture writer process: files it writes read back like the in-process writer's; a child
that dies, hangs or cannot open the store fails the file at hand and is started afresh."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from shoal.errors import ArtifactError
from shoal.observability.capture import CapturePartition, CaptureRecord, DataCapture, TenantRules
from shoal.storage import capture_process
from shoal.storage.capture_process import CaptureProcess
from shoal.storage.capture_writer import CaptureFiles, CaptureFormat, decode_tensors

HOUR = datetime(2026, 11, 22, 10, tzinfo=UTC)
PARTITION = CapturePartition("acme", "churn", HOUR)


def json_record(n: int) -> CaptureRecord:
    request = b'{"inputs":[{"name":"x","datatype":"FP32","shape":[1],"data":[%d]}]}' % n
    response = b'{"model_name":"churn","outputs":[]}'
    at = (HOUR + timedelta(seconds=n)).timestamp()
    return CaptureRecord(f"inf-{n}", "acme", "churn", 2, at, request, response, 80)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sink(tmp_path: Path, clock: Clock) -> Iterator[CaptureProcess]:
    process = CaptureProcess(str(tmp_path / "artifacts"), timer=clock)
    yield process
    process.close()


@pytest.mark.parametrize("file_format", list(CaptureFormat))
def test_files_written_by_the_process_read_back_exactly(
    tmp_path: Path, file_format: CaptureFormat
) -> None:
    sink = CaptureProcess(str(tmp_path / "artifacts"), file_format=file_format)
    records = [json_record(n) for n in range(600)]  # more than one frame of rows
    try:
        path = sink.write(PARTITION, records)
        child = sink.pid
        sink.write(PARTITION, records[:1])
        assert sink.pid == child  # one child for every file
    finally:
        sink.close()
    assert path.endswith(f".{file_format.value}")
    assert os.path.exists(path)
    frame = CaptureFiles(str(tmp_path / "artifacts")).read("acme", "churn")
    assert len(frame) == 601
    first = frame.iloc[0]
    assert (first["inference_id"], first["model_version"]) == ("inf-0", 2)
    assert first["request"] == records[0].request.decode()  # type: ignore[union-attr]
    assert first["timestamp"].to_pydatetime() == HOUR


def test_tensor_bodies_are_sent_as_their_json(sink: CaptureProcess, tmp_path: Path) -> None:
    inputs = {"x": np.arange(4, dtype=np.float32).reshape(2, 2)}
    outputs = {"label": np.array([True, False])}
    at = HOUR.timestamp()
    sink.write(PARTITION, [CaptureRecord("inf-t", "acme", "churn", 1, at, inputs, outputs, 9)])
    row = CaptureFiles(str(tmp_path / "artifacts")).read("acme", "churn").iloc[0]
    np.testing.assert_array_equal(decode_tensors(row["request"])["x"], inputs["x"])
    np.testing.assert_array_equal(decode_tensors(row["response"])["label"], outputs["label"])


def test_a_killed_child_fails_one_file_and_a_new_one_writes_the_next(
    sink: CaptureProcess, clock: Clock, tmp_path: Path
) -> None:
    sink.write(PARTITION, [json_record(0)])
    first = sink.pid
    assert first is not None
    os.kill(first, signal.SIGKILL)
    with pytest.raises(ArtifactError, match="capture writer process"):
        sink.write(PARTITION, [json_record(1)])
    with pytest.raises(ArtifactError, match="retrying in"):  # within the back-off
        sink.write(PARTITION, [json_record(2)])
    clock.now += capture_process.RESTART_BACKOFF_S
    sink.write(PARTITION, [json_record(3)])
    assert sink.pid not in (None, first)
    frame = CaptureFiles(str(tmp_path / "artifacts")).read("acme", "churn")
    assert list(frame["inference_id"]) == ["inf-0", "inf-3"]


def test_an_error_in_the_child_fails_that_file_and_the_child_lives_on(
    sink: CaptureProcess,
) -> None:
    bad = json_record(0)._replace(request=b"\xff not utf-8")
    with pytest.raises(ArtifactError, match=r"could not write a file: .*not UTF-8"):
        sink.write(PARTITION, [bad])
    child = sink.pid
    sink.write(PARTITION, [json_record(1)])
    assert sink.pid == child


def test_a_store_that_cannot_be_opened_refuses_every_file(tmp_path: Path) -> None:
    sink = CaptureProcess("nosuchscheme://bucket/artifacts")
    try:
        for _ in range(2):
            with pytest.raises(ArtifactError, match="cannot open the capture store"):
                sink.write(PARTITION, [json_record(0)])
    finally:
        sink.close()


def test_a_hung_child_times_out_and_is_killed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A child that reads its config and then sleeps: stands for a store that never answers.
    hang = tmp_path / "hang.py"
    hang.write_text("import sys, time\nsys.stdin.buffer.read(4)\ntime.sleep(60)\n")
    monkeypatch.setattr(capture_process, "_child_command", lambda: [sys.executable, str(hang)])
    sink = CaptureProcess(str(tmp_path / "artifacts"), reply_timeout_s=0.5)
    with pytest.raises(ArtifactError, match="no reply within"):
        sink.write(PARTITION, [json_record(0)])
    assert sink.pid is None
    sink.close()


def test_data_capture_counts_a_lost_child_as_failed_records_and_closes_it(
    tmp_path: Path, clock: Clock
) -> None:
    sink = CaptureProcess(str(tmp_path / "artifacts"), timer=clock)
    capture = DataCapture(sink, lambda: {"acme": TenantRules(100.0)}, timer=clock)
    capture.refresh_rules()
    capture.offer(json_record(0))
    capture.flush()
    child = sink.pid
    assert child is not None
    os.kill(child, signal.SIGKILL)
    capture.offer(json_record(1))
    capture.flush()
    clock.now += capture_process.RESTART_BACKOFF_S
    capture.offer(json_record(2))
    capture.stop()
    stats = capture.stats()
    assert (stats.written, stats.failed, stats.files) == (2, 1, 2)
    assert sink.pid is None  # stop() closed the child
