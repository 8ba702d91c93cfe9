"""Data capture: sample inferences per model and write them in the background, never blocking.

The request path makes two calls. ``sampled(tenant, model)`` decides from an in-memory snapshot
of the capture rules (a dict lookup and, below 100 %, one random number: well under a
microsecond). ``offer(record)`` appends the record — references to the request and response
bodies (or tensors) that already exist, nothing copied or converted — to a bounded queue, or
counts it as dropped when the queue is full. Neither waits on a lock, a database or a file.

A writer thread does the rest: it refreshes the rules every ``rules_ttl_s`` seconds, drains the
queue into one buffer per (tenant, model, UTC hour), and hands a buffer to the ``CaptureSink``
as one file when it holds ``file_rows`` records, when it is ``flush_interval_s`` old, when the
buffers hold half the byte budget, and on ``stop()``. A sink that fails costs the records it was
given (counted as ``failed`` and logged at most once per ``FAILURE_LOG_INTERVAL_S``), never a
request.
"""

from __future__ import annotations

import itertools
import logging
import operator
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import NamedTuple, Protocol

import numpy as np
from numpy.typing import NDArray
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from shoal.observability.metrics import Family

logger = logging.getLogger(__name__)

FAILURE_LOG_INTERVAL_S = 60.0
"""A failing sink or rules source is logged at most this often (with how many failed since)."""

Tensors = Mapping[str, NDArray[np.generic]]

CHUNK_ROWS = 256
"""Records the writer handles between two pauses that hand the interpreter lock over."""


def yield_to_requests() -> None:
    """Let the request path run now, if it waits for the interpreter lock.

    A thread that wants the lock waits up to the switch interval (5 ms) before the running
    thread is made to drop it, and the event loop asks for it again after each system call. So
    the writer pauses like this every ``CHUNK_ROWS`` records (a few hundred microseconds of
    work): converting a file of 10,000 rows then delays a request by at most that much, not by
    5 ms at a time. (It costs no CPU to speak of; the total work is the same.)
    """
    time.sleep(0)


class CaptureRecord(NamedTuple):
    """One served inference as it is captured, by reference to what the request path made.

    A named tuple: one is built per captured request, and a tuple builds fastest.
    """

    inference_id: str
    tenant: str
    model: str
    version: int
    timestamp: float
    """When the response was made, seconds since the epoch (UTC)."""
    request: bytes | Tensors
    """The V2 JSON request body as sent; the decoded input tensors when it carried binary data."""
    response: bytes | Tensors
    """The V2 JSON response body as returned; the output tensors when it had binary data."""
    size: int
    """Bytes the record keeps alive (request + response body), for the queue's byte budget."""


@dataclass(frozen=True, slots=True)
class CapturePartition:
    """What one capture file holds: records of one tenant's model within one UTC hour."""

    tenant: str
    model: str
    hour: datetime
    """The start of the hour, UTC."""

    @classmethod
    def of(cls, record: CaptureRecord) -> CapturePartition:
        hour = int(record.timestamp // 3600) * 3600
        return cls(record.tenant, record.model, datetime.fromtimestamp(hour, UTC))


class CaptureSink(Protocol):
    """Where captured records go; called on the writer thread only."""

    def write(self, partition: CapturePartition, records: Sequence[CaptureRecord]) -> str:
        """Write ``records`` (all of ``partition``) as one new file; returns where it went."""
        ...

    def close(self) -> None:
        """Let go of what the sink holds (a process, a connection); called once, on stop."""
        ...


@dataclass(frozen=True, slots=True)
class TenantRules:
    """A tenant's sampling percentages: per model, and a default for its other models."""

    default: float = 0.0
    models: Mapping[str, float] = field(default_factory=dict)


CaptureRules = Mapping[str, TenantRules]
"""Sampling percentages by tenant; a tenant that is absent captures nothing."""


@dataclass(frozen=True, slots=True)
class CaptureStats:
    """Counters since start. ``enqueued + dropped`` records were sampled; of those enqueued,
    ``written`` reached a file, ``failed`` were lost to a sink error and ``queued`` wait."""

    enqueued: int
    dropped: int
    written: int
    failed: int
    queued: int
    queued_bytes: int
    files: int


@dataclass(slots=True)
class _Buffer:
    partition: CapturePartition
    began: float
    records: list[CaptureRecord] = field(default_factory=list)
    size: int = 0


_BufferKey = tuple[str, str, int]
"""(tenant, model, hours since the epoch): cheaper to build per record than a partition."""

_SIZE = operator.itemgetter(7)  # CaptureRecord.size


def _buffer_key(record: CaptureRecord) -> _BufferKey:
    return record[1], record[2], int(record[4] // 3600)


class _Throttled:
    """Logs a recurring failure once, then at most once per interval with a count."""

    def __init__(self, what: str, timer: Callable[[], float]) -> None:
        self._what = what
        self._timer = timer
        self._last: float | None = None
        self._since = 0

    def failed(self, detail: str, exc: BaseException) -> None:
        self._since += 1
        now = self._timer()
        if self._last is None or now - self._last >= FAILURE_LOG_INTERVAL_S:
            logger.error(
                "%s failed %d time(s) since last reported; latest: %s: %r",
                self._what,
                self._since,
                detail,
                exc,
            )
            self._last, self._since = now, 0


class DataCapture:
    """Samples inferences by the capture rules and writes them through ``sink`` off the hot path.

    ``offer`` is meant for one thread (the event loop); counters written by the producer and by
    the writer thread are kept apart so that neither needs a lock.

    The writer wakes every ``poll_s`` (1 s), or as soon as the queue is half full (by records or
    bytes): each wake-up takes the interpreter lock from a busy event loop (on one hot model,
    capture cost 16.5 % of throughput waking every 0.1 s, 15.3 % every 1 s, paired runs).
    """

    def __init__(
        self,
        sink: CaptureSink,
        rules: Callable[[], CaptureRules],
        *,
        queue_size: int = 10_000,
        queue_bytes: int = 64 << 20,
        file_rows: int = 10_000,
        flush_interval_s: float = 60.0,
        rules_ttl_s: float = 2.0,
        poll_s: float = 1.0,
        timer: Callable[[], float] = time.monotonic,
        chance: Callable[[], float] = random.random,
    ) -> None:
        if queue_size < 1 or queue_bytes < 1 or file_rows < 1:
            raise ValueError(
                f"queue_size ({queue_size}), queue_bytes ({queue_bytes}) and file_rows "
                f"({file_rows}) must be positive"
            )
        self._sink = sink
        self._load_rules = rules
        self._queue_size = queue_size
        self._queue_bytes = queue_bytes
        self._file_rows = file_rows
        self._flush_interval_s = flush_interval_s
        self._rules_ttl_s = rules_ttl_s
        self._poll_s = poll_s
        self._timer = timer
        self._chance = chance
        self._tenants: CaptureRules = {}
        self._rules_at: float | None = None
        self._queue: deque[CaptureRecord] = deque()
        self._buffers: dict[_BufferKey, _Buffer] = {}
        self._buffered_bytes = 0
        # Producer-side counters (the event loop) ...
        self._enqueued = 0
        self._enqueued_bytes = 0
        self._dropped = 0
        # ... and writer-side ones: bytes count as released once written or failed.
        self._written = 0
        self._failed = 0
        self._released_bytes = 0
        self._files = 0
        self._sink_errors = _Throttled("writing captured inferences", timer)
        self._rules_errors = _Throttled("reading the capture rules", timer)
        self._stopping = threading.Event()
        # The writer wakes every ``poll_s``, or as soon as the queue is half full.
        self._wake = threading.Event()
        self._wake_rows = max(1, queue_size // 2)
        self._waking = False
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()  # one drain at a time (the thread, or a caller's flush)

    # -- the request path ------------------------------------------------------------------

    def sampled(self, tenant: str, model: str) -> bool:
        """Whether to capture this inference of ``tenant/model`` (by its sampling percent)."""
        rules = self._tenants.get(tenant)
        if rules is None:
            return False
        percent = rules.models.get(model, rules.default)
        return percent >= 100.0 or (percent > 0.0 and self._chance() * 100.0 < percent)

    def offer(self, record: CaptureRecord) -> bool:
        """Queue ``record`` for writing; False (and counted as dropped) when the queue is full."""
        in_flight = self._enqueued_bytes - self._released_bytes
        if (
            len(self._queue) >= self._queue_size
            or in_flight + record.size > self._queue_bytes
            or self._stopping.is_set()
        ):
            self._dropped += 1
            return False
        self._queue.append(record)
        self._enqueued += 1
        self._enqueued_bytes += record.size
        if not self._waking and (
            len(self._queue) >= self._wake_rows
            or 2 * (in_flight + record.size) >= self._queue_bytes
        ):
            self._waking = True  # set once per wake-up: Event.set takes a lock
            self._wake.set()
        return True

    def stats(self) -> CaptureStats:
        enqueued, written, failed = self._enqueued, self._written, self._failed
        return CaptureStats(
            enqueued=enqueued,
            dropped=self._dropped,
            written=written,
            failed=failed,
            queued=max(0, enqueued - written - failed),
            queued_bytes=max(0, self._enqueued_bytes - self._released_bytes),
            files=self._files,
        )

    def families(self) -> list[Family]:
        """The counters as Prometheus families (a metrics source, read at scrape time)."""
        stats = self.stats()
        records = CounterMetricFamily(
            "shoal_capture_records",
            "Sampled inferences by fate: enqueued, dropped (queue full), written, failed.",
            labels=["outcome"],
        )
        for outcome in ("enqueued", "dropped", "written", "failed"):
            records.add_metric([outcome], getattr(stats, outcome))
        files = CounterMetricFamily("shoal_capture_files", "Capture files written.")
        files.add_metric([], stats.files)
        queued = GaugeMetricFamily(
            "shoal_capture_queued_bytes", "Bytes of captured records waiting for the writer."
        )
        queued.add_metric([], stats.queued_bytes)
        return [Family(records), Family(files), Family(queued)]

    # -- the writer ------------------------------------------------------------------------

    def start(self) -> None:
        """Load the rules, then start the writer thread (idempotent)."""
        if self._thread is not None:
            return
        self.refresh_rules()
        self._thread = threading.Thread(target=self._run, name="shoal-capture", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 30.0) -> None:
        """Stop taking records, write everything queued, end the writer thread, close the sink."""
        self._stopping.set()
        self._wake.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout_s)
            if thread.is_alive():
                logger.error("the capture writer did not finish within %.0f s", timeout_s)
                return
        self.flush()
        try:
            self._sink.close()
        except Exception as exc:
            self._sink_errors.failed("closing the sink", exc)

    def refresh_rules(self) -> None:
        """Read the capture rules now; on failure keep the ones in force."""
        self._rules_at = self._timer()
        try:
            self._tenants = dict(self._load_rules())
        except Exception as exc:
            self._rules_errors.failed("keeping the previous rules", exc)

    def flush(self) -> None:
        """Write every queued and buffered record now (on the calling thread)."""
        self.drain(flush_all=True)

    def drain(self, flush_all: bool = False) -> None:
        """One writer cycle: move queued records into their buffers, write the due ones.

        Records are taken off the queue in chunks of ``CHUNK_ROWS`` and grouped by partition
        in C (``itertools.groupby``; a server's records come in long runs of one model and
        hour), so the writer holds the interpreter lock as little as it can per record.
        """
        with self._lock:
            now = self._timer()
            queue = self._queue
            popleft = queue.popleft
            while queue:
                # only what is there now: the producer may append meanwhile
                chunk = [popleft() for _ in range(min(len(queue), CHUNK_ROWS))]
                for key, run in itertools.groupby(chunk, _buffer_key):
                    self._buffer(key, list(run), now)
                yield_to_requests()
            flush_all = flush_all or self._buffered_bytes * 2 >= self._queue_bytes
            for key, buffer in list(self._buffers.items()):
                if flush_all or now - buffer.began >= self._flush_interval_s:
                    self._write(key)

    def _buffer(self, key: _BufferKey, records: list[CaptureRecord], now: float) -> None:
        """Add one partition's records to its buffer, writing each file that fills up."""
        while records:
            buffer = self._buffers.get(key)
            if buffer is None:
                buffer = self._buffers[key] = _Buffer(CapturePartition.of(records[0]), now)
            room = self._file_rows - len(buffer.records)
            taken, records = records[:room], records[room:]
            size = sum(map(_SIZE, taken))
            buffer.records += taken
            buffer.size += size
            self._buffered_bytes += size
            if len(buffer.records) >= self._file_rows:
                self._write(key)

    def _write(self, key: _BufferKey) -> None:
        buffer = self._buffers.pop(key)
        partition = buffer.partition
        self._buffered_bytes -= buffer.size
        try:
            self._sink.write(partition, buffer.records)
        except Exception as exc:
            self._failed += len(buffer.records)
            where = f"{partition.tenant}/{partition.model} {partition.hour:%Y-%m-%dT%H}"
            self._sink_errors.failed(f"{len(buffer.records)} records of {where} lost", exc)
        else:
            self._written += len(buffer.records)
            self._files += 1
        finally:
            self._released_bytes += buffer.size

    def _run(self) -> None:
        while True:
            self._wake.wait(self._poll_s)
            if self._stopping.is_set():
                break
            self._wake.clear()
            self._waking = False
            try:
                if self._rules_at is None or self._timer() - self._rules_at >= self._rules_ttl_s:
                    self.refresh_rules()
                self.drain()
            except Exception:  # the writer must outlive any bug in a cycle
                logger.exception("a capture writer cycle failed")
        # stop() flushes what is left once this thread is gone.
