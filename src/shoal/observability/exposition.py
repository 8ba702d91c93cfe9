"""``/metrics``: the Prometheus text of the serving metrics and every scrape-time source.

State owned by the event loop (the serving counters, the model cache) is copied on the loop —
a few milliseconds at 10,000 models — and everything slow (building series, the text format,
gzip, the multiprocess files) runs on a worker thread, so a scrape does not stall requests.

``text_format`` writes the same bytes as prometheus-client's ``generate_latest`` for the families
Shoal makes (counters, gauges, histograms; a test holds them equal) at about a fifth of its cost:
``generate_latest`` re-validates every label name with a regular expression on every sample,
which at 10,000 models was most of a scrape.
"""

from __future__ import annotations

import asyncio
import gzip
import math
from collections.abc import Callable, Iterable, Sequence

from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.metrics_core import Metric

from shoal.observability.metrics import Family, ServingMetrics, ServingSnapshot, families
from shoal.observability.multiprocess import ProcessDirectory

Source = Callable[[], list[Family]]
"""Families read at scrape time; called on the event loop, so it must not block."""

CONTENT_TYPE = CONTENT_TYPE_LATEST


class MetricsExposition:
    """Renders the metrics of this process, or of every process sharing ``directory``."""

    def __init__(
        self,
        serving: ServingMetrics,
        sources: Sequence[Source] = (),
        directory: ProcessDirectory | None = None,
    ) -> None:
        self.serving = serving
        self._sources = list(sources)
        self.directory = directory
        self._lock = asyncio.Lock()  # one flush at a time: writes must land in snapshot order

    def add_source(self, source: Source) -> None:
        self._sources.append(source)

    async def render(self, compress: bool = False) -> bytes:
        """The Prometheus text format (gzipped if ``compress``)."""
        async with self._lock:
            snapshot, extra = self._read()
            return await asyncio.to_thread(self._render, snapshot, extra, compress)

    async def flush(self) -> None:
        """Write this process's changes to the shared folder (no-op without one)."""
        if self.directory is None:
            return
        async with self._lock:
            snapshot, extra = self._read()
            await asyncio.to_thread(self._write, snapshot, extra)

    def render_now(self, compress: bool = False) -> bytes:
        """``render`` on this thread (outside a running server: tests, benchmarks)."""
        snapshot, extra = self._read()
        return self._render(snapshot, extra, compress)

    def _read(self) -> tuple[ServingSnapshot, list[Family]]:
        snapshot = self.serving.snapshot(changed_only=self.directory is not None)
        extra = [family for source in self._sources for family in source()]
        return snapshot, extra

    def _write(self, snapshot: ServingSnapshot, extra: list[Family]) -> None:
        assert self.directory is not None
        self.directory.write([*families(snapshot), *extra])

    def _render(self, snapshot: ServingSnapshot, extra: list[Family], compress: bool) -> bytes:
        if self.directory is None:
            metrics = [family.metric for family in (*families(snapshot), *extra)]
        else:
            self._write(snapshot, extra)
            metrics = self.directory.collect()
        body = text_format(metrics)
        return gzip.compress(body, compresslevel=1) if compress else body


def text_format(metrics: Iterable[Metric]) -> bytes:
    """The Prometheus text format (0.0.4) of counter, gauge and histogram families."""
    out: list[str] = []
    for metric in metrics:
        name = f"{metric.name}_total" if metric.type == "counter" else metric.name
        documentation = metric.documentation.replace("\\", r"\\").replace("\n", r"\n")
        out.append(f"# HELP {name} {documentation}\n# TYPE {name} {metric.type}\n")
        created = f"{metric.name}_created"
        for sample in metric.samples:
            if sample.name == created:
                continue  # OpenMetrics only; Shoal's families never carry it
            if sample.labels:
                labels = ",".join(
                    f'{key}="{_escape(value)}"' for key, value in sorted(sample.labels.items())
                )
                out.append(f"{sample.name}{{{labels}}} {_number(sample.value)}\n")
            else:
                out.append(f"{sample.name} {_number(sample.value)}\n")
    return "".join(out).encode()


def _escape(value: str) -> str:
    if "\\" in value or "\n" in value or '"' in value:
        return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")
    return value


def _number(value: float) -> str:
    if value == math.inf:
        return "+Inf"
    if value == -math.inf:
        return "-Inf"
    if math.isnan(value):
        return "NaN"
    text = repr(float(value))
    dot = text.find(".")
    if value > 0 and dot > 6:  # as prometheus-client writes it: Go's exponent form
        mantissa = f"{text[0]}.{text[1:dot]}{text[dot + 1 :]}".rstrip("0.")
        return f"{mantissa}e+0{dot - 1}"
    return text
