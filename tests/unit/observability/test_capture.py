"""Data capture: sampling by the rules, the bounded queue, batching into files, failures."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import pytest

from shoal.errors import ValidationError
from shoal.observability.capture import (
    CapturePartition,
    CaptureRecord,
    CaptureRules,
    DataCapture,
    TenantRules,
)
from shoal.observability.capture_config import CaptureConfig, check_percent, rules_of
from shoal.observability.capture_ids import new_inference_id

T0 = datetime(2026, 11, 22, 10, 15, tzinfo=UTC).timestamp()


@dataclass
class RecordingSink:
    """A real sink that keeps what it is given; ``fail`` makes the next writes raise."""

    files: list[tuple[CapturePartition, list[CaptureRecord]]] = field(default_factory=list)
    fail: bool = False
    closed: int = 0

    def write(self, partition: CapturePartition, records: Sequence[CaptureRecord]) -> str:
        if self.fail:
            raise OSError("disk full")
        self.files.append((partition, list(records)))
        return f"file-{len(self.files)}"

    def close(self) -> None:
        self.closed += 1


class FakeTimer:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def record(
    n: int = 0, tenant: str = "acme", model: str = "churn", at: float = T0, size: int = 100
) -> CaptureRecord:
    inputs = {"input": np.full((1, 3), float(n))}
    outputs = {"label": np.array([n % 2])}
    return CaptureRecord(f"id-{n}", tenant, model, 1, at, inputs, outputs, size)


def capture(
    sink: RecordingSink,
    rules: CaptureRules | None = None,
    timer: FakeTimer | None = None,
    **options: float,
) -> DataCapture:
    snapshot = rules if rules is not None else {"acme": TenantRules(100.0)}
    return DataCapture(sink, lambda: snapshot, timer=timer or FakeTimer(), **options)  # type: ignore[arg-type]


def test_a_model_is_sampled_by_its_own_percent_else_its_tenants_default() -> None:
    rules = {
        "acme": TenantRules(default=100.0, models={"quiet": 0.0, "some": 30.0}),
        "globex": TenantRules(models={"churn": 100.0}),
    }
    chances = iter([0.29, 0.31])
    sampler = DataCapture(RecordingSink(), lambda: rules, chance=lambda: next(chances))
    sampler.refresh_rules()
    assert sampler.sampled("acme", "churn")  # the tenant's default
    assert not sampler.sampled("acme", "quiet")  # its own 0 % wins over the default
    assert sampler.sampled("acme", "some")  # 0.29 * 100 < 30
    assert not sampler.sampled("acme", "some")  # 0.31 * 100 >= 30
    assert sampler.sampled("globex", "churn")
    assert not sampler.sampled("globex", "other")  # no default: nothing
    assert not sampler.sampled("initech", "churn")  # no rules at all


def test_sampling_at_a_percent_captures_about_that_share() -> None:
    sampler = DataCapture(RecordingSink(), lambda: {"acme": TenantRules(10.0)})
    sampler.refresh_rules()
    share = sum(sampler.sampled("acme", "churn") for _ in range(20_000)) / 20_000
    assert 0.08 < share < 0.12


def test_captured_records_are_written_one_file_per_model_and_hour() -> None:
    sink = RecordingSink()
    writer = capture(sink)
    for n, (model, at) in enumerate(
        [("churn", T0), ("churn", T0 + 60), ("fraud", T0), ("churn", T0 + 3600)]
    ):
        assert writer.offer(record(n, model=model, at=at))
    writer.flush()
    written = {(p.model, p.hour.hour): [r.inference_id for r in rs] for p, rs in sink.files}
    assert written == {
        ("churn", 10): ["id-0", "id-1"],
        ("fraud", 10): ["id-2"],
        ("churn", 11): ["id-3"],
    }
    assert all(p.hour.tzinfo == UTC and p.hour.minute == 0 for p, _ in sink.files)
    stats = writer.stats()
    assert (stats.enqueued, stats.written, stats.dropped, stats.queued, stats.files) == (
        4,
        4,
        0,
        0,
        3,
    )


def test_a_full_queue_drops_and_counts_instead_of_waiting() -> None:
    sink = RecordingSink()
    writer = capture(sink, queue_size=3)
    accepted = [writer.offer(record(n)) for n in range(5)]
    assert accepted == [True, True, True, False, False]
    assert (writer.stats().enqueued, writer.stats().dropped, writer.stats().queued) == (3, 2, 3)
    writer.flush()
    assert writer.offer(record(9))  # room again once written
    assert writer.stats().written == 3


def test_the_byte_budget_bounds_what_waits_to_be_written() -> None:
    writer = capture(RecordingSink(), queue_bytes=1000)
    assert writer.offer(record(0, size=600))
    assert not writer.offer(record(1, size=600))  # 1,200 bytes would be in flight
    assert writer.offer(record(2, size=400))
    assert writer.stats().queued_bytes == 1000
    writer.flush()
    assert writer.stats().queued_bytes == 0


def test_a_buffer_is_written_when_it_holds_file_rows_or_is_flush_interval_old() -> None:
    sink, timer = RecordingSink(), FakeTimer()
    writer = capture(sink, timer=timer, file_rows=3, flush_interval_s=60.0)
    for n in range(4):
        writer.offer(record(n))
    writer.drain()
    assert [len(rs) for _, rs in sink.files] == [3]  # full: written at once; one waits
    timer.now += 59
    writer.drain()
    assert len(sink.files) == 1
    timer.now += 1
    writer.drain()
    assert [len(rs) for _, rs in sink.files] == [3, 1]


def test_buffers_are_written_early_when_they_hold_half_the_byte_budget() -> None:
    sink = RecordingSink()
    writer = capture(sink, queue_bytes=1000, flush_interval_s=3600.0)
    writer.offer(record(0, size=300))
    writer.drain()
    assert sink.files == []
    writer.offer(record(1, size=300, model="fraud"))
    writer.drain()
    assert sorted(p.model for p, _ in sink.files) == ["churn", "fraud"]


def test_a_failing_sink_loses_only_its_records_and_is_logged_once_per_interval(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sink = RecordingSink(fail=True)
    writer = capture(sink)
    with caplog.at_level(logging.ERROR, logger="shoal.observability.capture"):
        for n in range(3):
            assert writer.offer(record(n, model=f"m{n}"))
            writer.flush()
    assert len([r for r in caplog.records if "writing captured inferences" in r.message]) == 1
    assert writer.stats().failed == 3
    sink.fail = False
    assert writer.offer(record(7))
    writer.flush()
    stats = writer.stats()
    assert (stats.written, stats.failed, stats.queued, stats.queued_bytes) == (1, 3, 0, 0)


def test_failing_to_read_the_rules_keeps_the_ones_in_force() -> None:
    answers: list[CaptureRules | Exception] = [
        {"acme": TenantRules(100.0)},
        ConnectionError("database is down"),
        {},
    ]

    def rules() -> CaptureRules:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    sampler = DataCapture(RecordingSink(), rules)
    sampler.refresh_rules()
    sampler.refresh_rules()
    assert sampler.sampled("acme", "churn")
    sampler.refresh_rules()
    assert not sampler.sampled("acme", "churn")


class SignallingSink(RecordingSink):
    """Sets ``written`` once a file is written (by the writer thread)."""

    def __init__(self) -> None:
        super().__init__()
        self.written = threading.Event()

    def write(self, partition: CapturePartition, records: Sequence[CaptureRecord]) -> str:
        where = super().write(partition, records)
        self.written.set()
        return where


def test_the_writer_thread_writes_in_the_background_and_everything_on_stop() -> None:
    sink = SignallingSink()
    written = sink.written
    writer = DataCapture(sink, lambda: {"acme": TenantRules(100.0)}, file_rows=2, poll_s=0.01)
    writer.start()
    try:
        writer.offer(record(0))
        writer.offer(record(1))
        assert written.wait(5.0)  # two rows fill a file: written without a flush
        writer.offer(record(2))
    finally:
        writer.stop()
    assert [r.inference_id for _, rs in sink.files for r in rs] == ["id-0", "id-1", "id-2"]
    assert sink.closed == 1  # after the last file
    assert not writer.offer(record(3))  # stopped: nothing more is taken
    assert writer.stats().dropped == 1


def test_a_half_full_queue_wakes_the_writer_before_its_interval() -> None:
    sink = SignallingSink()
    written = sink.written
    writer = DataCapture(
        sink, lambda: {"acme": TenantRules(100.0)}, queue_size=8, file_rows=4, poll_s=3600.0
    )
    writer.start()
    try:
        for i in range(3):
            writer.offer(record(i))
        assert not written.wait(0.2)  # under half the queue: the writer sleeps on
        writer.offer(record(3))  # half of 8: wake up, and 4 rows fill a file
        assert written.wait(5.0)
    finally:
        writer.stop()
    assert [r.inference_id for _, rs in sink.files for r in rs] == [f"id-{i}" for i in range(4)]


def test_a_drain_keeps_each_partition_apart_and_in_order() -> None:
    sink = RecordingSink()
    writer = DataCapture(sink, lambda: {"acme": TenantRules(100.0)}, file_rows=1000)
    hour = 3600.0
    for i in range(600):  # runs of two models across two hours, longer than a drain chunk
        model = "churn" if (i // 50) % 2 else "fraud"
        writer.offer(record(i)._replace(model=model, timestamp=hour * (10 + i // 300)))
    writer.flush()
    by_partition = {(p.model, p.hour.hour): [r.inference_id for r in rs] for p, rs in sink.files}
    assert sorted(by_partition) == [("churn", 10), ("churn", 11), ("fraud", 10), ("fraud", 11)]
    for (model, hour_of_day), ids in by_partition.items():
        expected = [
            f"id-{i}"
            for i in range(600)
            if ("churn" if (i // 50) % 2 else "fraud") == model and 10 + i // 300 == hour_of_day
        ]
        assert ids == expected
    assert writer.stats().written == 600


def test_inference_ids_are_unique_32_hex_digits() -> None:
    ids = {new_inference_id() for _ in range(10_000)}
    assert len(ids) == 10_000
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in ids)


def test_settings_become_the_samplers_rules() -> None:
    configs = [
        CaptureConfig("acme", None, 5.0),
        CaptureConfig("acme", "churn", 50.0),
        CaptureConfig("globex", "fraud", 100.0),
    ]
    assert rules_of(configs) == {
        "acme": TenantRules(5.0, {"churn": 50.0}),
        "globex": TenantRules(0.0, {"fraud": 100.0}),
    }


@pytest.mark.parametrize("bad", [-0.1, 100.5, float("nan"), float("inf"), True, "10"])
def test_a_percent_outside_0_to_100_is_refused_naming_it(bad: object) -> None:
    with pytest.raises(ValidationError, match="capture percent must be"):
        check_percent(bad)  # type: ignore[arg-type]
    assert check_percent(12) == 12.0
