"""Metrics of several server processes on one host, through one shared folder.

When a host runs several ``shoal serve`` processes (replicas behind a local balancer, or
sharing a port), a scrape reaches one of them but must count all of them. Each process writes
its series to its own files in the folder — prometheus-client's multiprocess format, which its
``MultiProcessCollector`` reads: ``counter_<id>.db``, ``histogram_<id>.db``,
``gauge_livesum_<id>.db``, ``gauge_livemax_<id>.db`` — and any process answers ``/metrics``
with the merge of every file.

Unlike prometheus-client's own multiprocess values (an mmap write under a global lock on every
increment, and the folder named by an environment variable read at import), a process here
counts in memory (``metrics.ServingMetrics``) and writes what changed about once a second
(``flush``) and before each scrape it answers: the hot path never touches the files.

``<id>`` is ``<pid>-<process start time>``, so a restarted process never reuses a file. Counter
and histogram files of processes that exited stay (sums stay monotonic, as Prometheus expects);
their live-gauge files are removed when they stop, and by ``sweep`` if they died. Empty the
folder when the whole group restarts, as prometheus-client asks.
"""

from __future__ import annotations

import contextlib
import glob
import logging
import os
from collections.abc import Iterable
from pathlib import Path

import psutil  # type: ignore[import-untyped]
from prometheus_client.metrics_core import Metric
from prometheus_client.mmap_dict import MmapedDict, mmap_key
from prometheus_client.multiprocess import MultiProcessCollector

from shoal.observability.metrics import Family

logger = logging.getLogger(__name__)

_GAUGE_FILES = {"sum": "gauge_livesum", "max": "gauge_livemax"}


def process_identity(process: psutil.Process | None = None) -> str:
    """``<pid>-<start time>``: unique among the processes that ever ran on the host."""
    process = process or psutil.Process()
    return f"{process.pid}-{int(process.create_time())}"


def _alive(identity: str) -> bool:
    pid, _, started = identity.partition("-")
    try:
        return int(psutil.Process(int(pid)).create_time()) == int(started)
    except (psutil.Error, ValueError):
        return False


class ProcessDirectory:
    """This process's files in the shared folder: write our series, read everyone's."""

    def __init__(self, folder: Path, identity: str | None = None) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self._fixed_identity = identity
        self.identity = identity or process_identity()
        self._pid = os.getpid()
        self._files: dict[str, MmapedDict] = {}
        self._keys: dict[tuple[str, str, tuple[tuple[str, str], ...]], str] = {}
        self._written: dict[str, float] = {}

    def write(self, families: Iterable[Family]) -> None:
        """Write the values that changed since the last write (not thread-safe: one writer)."""
        if self._fixed_identity is None and os.getpid() != self._pid:
            self._forked()
        for family in families:
            metric = family.metric
            if metric.type == "counter":
                self._write_plain(metric, "counter")
            elif metric.type == "gauge":
                self._write_plain(metric, _GAUGE_FILES[family.across_processes])
            elif metric.type == "histogram":
                self._write_histogram(metric)
            else:
                raise ValueError(f"cannot write {metric.type} {metric.name} to {self.folder}")

    def _write_plain(self, metric: Metric, prefix: str) -> None:
        for sample in metric.samples:
            if metric.type == "counter" and not sample.name.endswith("_total"):
                continue  # _created: the merged view has no use for per-process creation times
            self._put(prefix, metric, sample.name, sample.labels, sample.value)

    def _write_histogram(self, metric: Metric) -> None:
        # The file format counts each bucket on its own; the family holds cumulative counts.
        previous: dict[tuple[tuple[str, str], ...], float] = {}
        for sample in metric.samples:
            if sample.name.endswith("_bucket"):
                series = tuple(sorted((k, v) for k, v in sample.labels.items() if k != "le"))
                below = previous.get(series, 0.0)
                previous[series] = sample.value
                self._put("histogram", metric, sample.name, sample.labels, sample.value - below)
            elif sample.name.endswith("_sum"):
                self._put("histogram", metric, sample.name, sample.labels, sample.value)

    def _put(
        self, prefix: str, metric: Metric, name: str, labels: dict[str, str], value: float
    ) -> None:
        cache_key = (prefix, name, tuple(labels.items()))
        key = self._keys.get(cache_key)
        if key is None:
            key = mmap_key(
                metric.name, name, list(labels), list(labels.values()), metric.documentation
            )
            self._keys[cache_key] = key
        if self._written.get(key) == value:
            return
        self._file(prefix).write_value(key, value, 0.0)  # type: ignore[no-untyped-call]
        self._written[key] = value

    def _file(self, prefix: str) -> MmapedDict:
        file = self._files.get(prefix)
        if file is None:
            path = self.folder / f"{prefix}_{self.identity}.db"
            file = self._files[prefix] = MmapedDict(str(path))  # type: ignore[no-untyped-call]
        return file

    def _forked(self) -> None:
        # Built before a fork (a pre-forking server): the child writes files of its own.
        self._files.clear()  # the parent's maps; the child must not write into them
        self._written.clear()
        self._pid = os.getpid()
        self.identity = process_identity()

    def collect(self) -> list[Metric]:
        """Every process's series, merged (counters and histograms summed; gauges summed over
        live processes, or their maximum)."""
        files = glob.glob(os.path.join(self.folder, "*.db"))
        merged = MultiProcessCollector.merge(files, accumulate=True)  # type: ignore[no-untyped-call]
        return list(merged)

    def sweep(self) -> int:
        """Remove the live-gauge files of processes that are gone; returns how many."""
        removed = 0
        for prefix in _GAUGE_FILES.values():
            for path in self.folder.glob(f"{prefix}_*.db"):
                identity = path.name[len(prefix) + 1 : -3]
                if "-" in identity and identity != self.identity and not _alive(identity):
                    with contextlib.suppress(FileNotFoundError):
                        path.unlink()
                        removed += 1
        return removed

    def close(self) -> None:
        """Stop counting this process in live gauges; its counters stay in the folder."""
        for file in self._files.values():
            file.close()  # type: ignore[no-untyped-call]
        self._files.clear()
        self._written.clear()
        for prefix in _GAUGE_FILES.values():
            with contextlib.suppress(FileNotFoundError):
                (self.folder / f"{prefix}_{self.identity}.db").unlink()
