"""The serving path's counters and histograms, and the Prometheus text they become."""

import threading

from prometheus_client.exposition import generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

from shoal.observability.exposition import MetricsExposition, text_format
from shoal.observability.metrics import (
    LATENCY_BUCKETS,
    OTHER_MODELS,
    Histogram,
    ServingMetrics,
    families,
)
from shoal.observability.tracing import RequestTrace


def served(
    model: str | None, cache: str | None = "hit", model_s: float | None = 0.001, wait_s: float = 0.0
) -> RequestTrace:
    trace = RequestTrace("POST", "/v2/models/acme/churn/infer", [], infer=True)
    trace.model, trace.cache, trace.model_s, trace.wait_s = model, cache, model_s, wait_s
    return trace


def samples(metrics: ServingMetrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = MetricsExposition(metrics).render_now().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_a_latency_of_exactly_200_ms_counts_in_the_0_2_bucket() -> None:
    assert 0.2 in LATENCY_BUCKETS
    histogram = Histogram(LATENCY_BUCKETS)
    histogram.observe(0.2)
    histogram.observe(0.2000001)
    edge = LATENCY_BUCKETS.index(0.2)
    assert histogram.counts[edge] == 1
    assert histogram.counts[edge + 1] == 1


def test_requests_are_counted_per_model_by_status_class_and_per_status_code() -> None:
    metrics = ServingMetrics()
    metrics.observe_inference(served("acme/churn"), 200, 0.002)
    metrics.observe_inference(served("acme/churn"), 200, 0.002)
    metrics.observe_inference(served("acme/churn", model_s=None), 400, 0.001)
    metrics.observe_inference(served("acme/churn", model_s=None), 500, 0.001)
    metrics.observe_inference(served(None, cache=None, model_s=None), 401, 0.0001)
    metrics.observe_api(200)
    seen = samples(metrics)
    per_model = "shoal_model_requests_total"
    assert seen[(per_model, (("class", "2xx"), ("model", "acme/churn")))] == 2
    assert seen[(per_model, (("class", "4xx"), ("model", "acme/churn")))] == 1
    assert seen[(per_model, (("class", "5xx"), ("model", "acme/churn")))] == 1
    assert seen[("shoal_requests_total", (("code", "401"), ("handler", "infer")))] == 1
    assert seen[("shoal_requests_total", (("code", "200"), ("handler", "api")))] == 1


def test_a_request_that_never_resolved_a_model_creates_no_per_model_series() -> None:
    metrics = ServingMetrics()
    for _ in range(3):  # 404s for names that do not exist, 401s, 429s: no model resolved
        metrics.observe_inference(served(None, cache=None, model_s=None), 404, 0.0005)
    seen = samples(metrics)
    assert not [key for key in seen if key[0] == "shoal_model_requests_total"]
    none_tier = ("shoal_request_duration_seconds_count", (("cache", "none"),))
    assert seen[none_tier] == 3


def test_models_past_the_cap_are_counted_together_as_other() -> None:
    metrics = ServingMetrics(max_models=2)
    for model in ("a/m", "b/m", "c/m", "d/m", "c/m"):
        metrics.observe_inference(served(model), 200, 0.001)
    seen = samples(metrics)
    models = {
        dict(labels)["model"]: value
        for (name, labels), value in seen.items()
        if name == "shoal_model_requests_total"
    }
    assert models == {"a/m": 1, "b/m": 1, OTHER_MODELS: 3}


def test_latency_is_split_by_cache_tier_and_overhead_leaves_out_model_and_wait_time() -> None:
    metrics = ServingMetrics()
    metrics.observe_inference(served("a/m", "hit", model_s=0.004), 200, 0.005)
    metrics.observe_inference(served("a/m", "miss", model_s=0.004, wait_s=0.09), 200, 0.1)
    seen = samples(metrics)
    assert seen[("shoal_request_duration_seconds_sum", (("cache", "hit"),))] == 0.005
    assert seen[("shoal_request_duration_seconds_sum", (("cache", "miss"),))] == 0.1
    assert seen[("shoal_model_duration_seconds_sum", (("cache", "miss"),))] == 0.004
    overhead = seen[("shoal_overhead_duration_seconds_sum", (("cache", "miss"),))]
    assert abs(overhead - 0.006) < 1e-9
    assert seen[("shoal_model_wait_seconds_count", ())] == 1  # misses only
    assert seen[("shoal_model_wait_seconds_sum", ())] == 0.09


def test_model_loads_timed_on_several_threads_are_all_counted() -> None:
    metrics = ServingMetrics()

    def load_many() -> None:
        for _ in range(1000):
            metrics.observe_load(0.01)

    threads = [threading.Thread(target=load_many) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert samples(metrics)[("shoal_model_load_seconds_count", ())] == 4000


def test_the_text_format_is_byte_for_byte_what_prometheus_client_writes() -> None:
    metrics = ServingMetrics()
    metrics.observe_inference(served("acme/churn", "miss", wait_s=0.02), 200, 0.03)
    metrics.observe_inference(served('we"ird\\name\n'), 503, 1234567.0)  # escaping, Go floats
    metrics.observe_load(0.2)
    built: list[Metric] = [family.metric for family in families(metrics.snapshot())]

    class Fixed:
        def collect(self) -> list[Metric]:
            return built

    assert text_format(built) == generate_latest(Fixed())
