"""The serving path's Prometheus metrics: counted per request, turned into series at scrape time.

The hot path does plain arithmetic on the event-loop thread (no locks, no label lookups, no
prometheus-client objects): a status count, a per-model ``[2xx, 4xx, 5xx]`` list and three
fixed-bucket histograms — about a microsecond a request. ``snapshot()`` copies that state on the
loop; ``families()`` turns a snapshot into metric families, off the loop.

Series stay bounded: per-model series are counters only, and only for models that resolved
(a request for a name that does not exist never creates one), at most ``max_models`` of them
(later models are counted under ``model="(other)"``); histograms are per cache tier (``hit``,
``miss``, and ``none`` for requests refused before a model was leased), never per model.
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from dataclasses import dataclass
from typing import Literal

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.metrics_core import Metric

from shoal.observability.tracing import RequestTrace

LATENCY_BUCKETS = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.15,
    0.2,
    0.3,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)
"""Seconds. 0.2 is an edge so the share of requests answered within 200 ms is exact."""

LOAD_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
"""Seconds, for model loads and the waits on them."""

TIERS = ("hit", "miss", "none")
OTHER_MODELS = "(other)"
"""The ``model`` label of models past ``max_models``."""

Aggregate = Literal["sum", "max"]


@dataclass(frozen=True, slots=True)
class Family:
    """A metric family, and how a gauge adds up over several processes (``multiprocess``).

    ``max`` is for values every process reads from the same place (the disk, Redis); ``sum``
    for values each process has its own share of.
    """

    metric: Metric
    across_processes: Aggregate = "sum"


class Histogram:
    """Fixed buckets, counted per bucket (not cumulatively); loop thread only."""

    __slots__ = ("bounds", "counts", "total")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.total = 0.0

    def observe(self, value: float) -> None:
        # bisect_left: the first bound >= value, so a value on an edge counts as "le" it.
        self.counts[bisect_left(self.bounds, value)] += 1
        self.total += value

    def copy(self) -> Histogram:
        copied = Histogram(self.bounds)
        copied.counts = list(self.counts)
        copied.total = self.total
        return copied


@dataclass(frozen=True, slots=True)
class ServingSnapshot:
    """The serving metrics at one instant (plain values, safe to read on another thread)."""

    models: list[tuple[str, tuple[int, int, int]]]
    codes: dict[int, int]
    api_codes: dict[int, int]
    latency: dict[str, dict[str, Histogram]]
    """kind (``total``, ``model``, ``overhead``) -> tier -> histogram."""
    wait: Histogram
    load: Histogram
    in_flight: int


class ServingMetrics:
    """Counts inference and API requests as they finish; models past ``max_models`` pool."""

    def __init__(self, max_models: int = 10_000) -> None:
        if max_models < 1:
            raise ValueError(f"max_models must be at least 1, got {max_models}")
        self._max_models = max_models
        self._models: dict[str, list[int]] = {}
        self._changed: set[str] = set()
        self._codes: dict[int, int] = {}
        self._api_codes: dict[int, int] = {}
        self._latency = {
            kind: {tier: Histogram(LATENCY_BUCKETS) for tier in TIERS}
            for kind in ("total", "model", "overhead")
        }
        self._total = self._latency["total"]
        self._model = self._latency["model"]
        self._overhead = self._latency["overhead"]
        self._wait = Histogram(LOAD_BUCKETS)
        self._load = Histogram(LOAD_BUCKETS)
        self._load_lock = threading.Lock()  # loads are timed on the loader's threads
        self.in_flight = 0

    def observe_inference(self, trace: RequestTrace, status: int, total_s: float) -> None:
        """One finished inference request (any status)."""
        codes = self._codes
        codes[status] = codes.get(status, 0) + 1
        model = trace.model
        if model is not None:
            counts = self._models.get(model)
            if counts is None:
                counts = self._new_model(model)
            counts[0 if status < 400 else 1 if status < 500 else 2] += 1
            self._changed.add(model)
        tier = trace.cache
        if tier is None:
            self._total["none"].observe(total_s)
            return
        self._total[tier].observe(total_s)
        model_s = trace.model_s
        if model_s is not None:
            self._model[tier].observe(model_s)
            self._overhead[tier].observe(max(0.0, total_s - model_s - trace.wait_s))
        if tier == "miss":
            self._wait.observe(trace.wait_s)

    def observe_api(self, status: int) -> None:
        """One finished request to any other route (metadata, repository, management API)."""
        codes = self._api_codes
        codes[status] = codes.get(status, 0) + 1

    def observe_load(self, seconds: float) -> None:
        """One model load finished (any thread)."""
        with self._load_lock:
            self._load.observe(seconds)

    def _new_model(self, model: str) -> list[int]:
        if len(self._models) >= self._max_models:
            model = OTHER_MODELS
            pooled = self._models.get(model)
            if pooled is not None:
                return pooled
        counts = self._models[model] = [0, 0, 0]
        return counts

    def snapshot(self, changed_only: bool = False) -> ServingSnapshot:
        """Copy the state (on the loop thread); ``changed_only``: only models counted since the
        last such snapshot (what a multiprocess flush writes)."""
        if changed_only:
            changed, self._changed = self._changed, set()
            models = [(name, _triple(self._models[name])) for name in changed]
        else:
            models = [(name, _triple(counts)) for name, counts in self._models.items()]
        with self._load_lock:
            load = self._load.copy()
        return ServingSnapshot(
            models=models,
            codes=dict(self._codes),
            api_codes=dict(self._api_codes),
            latency={
                kind: {tier: h.copy() for tier, h in tiers.items()}
                for kind, tiers in self._latency.items()
            },
            wait=self._wait.copy(),
            load=load,
            in_flight=self.in_flight,
        )


def _triple(counts: list[int]) -> tuple[int, int, int]:
    return counts[0], counts[1], counts[2]


def families(snapshot: ServingSnapshot) -> list[Family]:
    """The snapshot as metric families (safe off the loop)."""
    requests = CounterMetricFamily(
        "shoal_requests",
        "Requests by handler (infer: model inference; api: every other route) and status.",
        labels=["handler", "code"],
    )
    for handler, codes in (("infer", snapshot.codes), ("api", snapshot.api_codes)):
        for code, count in sorted(codes.items()):
            requests.add_metric([handler, str(code)], count)
    per_model = CounterMetricFamily(
        "shoal_model_requests",
        "Inference requests per resolved model, by status class.",
        labels=["model", "class"],
    )
    for model, counts in snapshot.models:
        for status_class, count in zip(("2xx", "4xx", "5xx"), counts, strict=True):
            if count:
                per_model.add_metric([model, status_class], count)
    latency_help = {
        "total": ("shoal_request_duration_seconds", "Inference latency, arrival to response."),
        "model": ("shoal_model_duration_seconds", "Time the model took to predict."),
        "overhead": (
            "shoal_overhead_duration_seconds",
            "Inference latency less predict time and any wait for a model load: auth, plan, "
            "decoding, validation, encoding.",
        ),
    }
    out = [Family(requests), Family(per_model)]
    for kind, (name, text) in latency_help.items():
        family = HistogramMetricFamily(name, f"{text} By cache tier.", labels=["cache"])
        for tier, histogram in snapshot.latency[kind].items():
            if kind == "total" or tier != "none":
                _add_histogram(family, [tier], histogram)
        out.append(Family(family))
    wait = HistogramMetricFamily(
        "shoal_model_wait_seconds", "Time a cache miss waited for its model's load."
    )
    _add_histogram(wait, [], snapshot.wait)
    load = HistogramMetricFamily(
        "shoal_model_load_seconds", "Time each model load took (fetch, unpack, load)."
    )
    _add_histogram(load, [], snapshot.load)
    in_flight = GaugeMetricFamily("shoal_requests_in_flight", "Requests being handled now.")
    in_flight.add_metric([], snapshot.in_flight)
    return [*out, Family(wait), Family(load), Family(in_flight)]


def _add_histogram(family: HistogramMetricFamily, labels: list[str], histogram: Histogram) -> None:
    buckets: list[tuple[str, float]] = []
    cumulative = 0
    for bound, count in zip((*histogram.bounds, float("inf")), histogram.counts, strict=True):
        cumulative += count
        buckets.append((("+Inf" if bound == float("inf") else repr(bound)), cumulative))
    family.add_metric(labels, buckets, histogram.total)
