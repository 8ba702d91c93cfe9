"""Several processes' metrics through one folder: what each writes and what a scrape merges.

Two ``ProcessDirectory`` objects with distinct identities are two processes as far as the files
are concerned; ``tests/e2e/test_metrics_multiprocess.py`` runs two real servers.
"""

import multiprocessing
from pathlib import Path

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.parser import text_string_to_metric_families

from shoal.observability.exposition import MetricsExposition, text_format
from shoal.observability.metrics import Family, ServingMetrics
from shoal.observability.multiprocess import ProcessDirectory, process_identity
from shoal.observability.tracing import RequestTrace


def serve(metrics: ServingMetrics, model: str, count: int, latency_s: float) -> None:
    for _ in range(count):
        trace = RequestTrace("POST", "/v2/models/a/m/infer", [], infer=True)
        trace.model, trace.cache, trace.model_s = model, "hit", latency_s / 2
        metrics.observe_inference(trace, 200, latency_s)


def gauges(resident: int, disk: int) -> list[Family]:
    memory = GaugeMetricFamily("shoal_cache_resident_models", "Models in memory.")
    memory.add_metric([], resident)
    used = GaugeMetricFamily("shoal_package_cache_used_bytes", "Bytes on disk.")
    used.add_metric([], disk)
    return [Family(memory), Family(used, "max")]


def merged(directory: ProcessDirectory) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = text_format(directory.collect()).decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_a_scrape_sums_counters_and_histograms_of_every_process(tmp_path: Path) -> None:
    first, second = ServingMetrics(), ServingMetrics()
    serve(first, "acme/churn", 3, 0.01)
    serve(second, "acme/churn", 4, 0.3)
    serve(second, "globex/fraud", 1, 0.01)
    one = MetricsExposition(first, [lambda: gauges(5, 1000)], ProcessDirectory(tmp_path, "11-1"))
    two = MetricsExposition(second, [lambda: gauges(7, 1000)], ProcessDirectory(tmp_path, "22-2"))
    two.render_now()  # a scrape writes its own process first, then merges the folder
    text = one.render_now().decode()
    seen = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
    per_model = "shoal_model_requests_total"
    assert seen[(per_model, (("class", "2xx"), ("model", "acme/churn")))] == 7
    assert seen[(per_model, (("class", "2xx"), ("model", "globex/fraud")))] == 1
    assert seen[("shoal_requests_total", (("code", "200"), ("handler", "infer")))] == 8
    hit = (("cache", "hit"),)
    assert seen[("shoal_request_duration_seconds_count", hit)] == 8
    assert seen[("shoal_request_duration_seconds_bucket", (("cache", "hit"), ("le", "0.2")))] == 4
    assert seen[("shoal_request_duration_seconds_bucket", (("cache", "hit"), ("le", "+Inf")))] == 8
    assert abs(seen[("shoal_request_duration_seconds_sum", hit)] - 1.24) < 1e-9
    assert seen[("shoal_cache_resident_models", ())] == 12  # each has its own cache: summed
    assert seen[("shoal_package_cache_used_bytes", ())] == 1000  # one shared folder: not summed


def test_later_writes_replace_a_processes_values_instead_of_adding_to_them(tmp_path: Path) -> None:
    metrics = ServingMetrics()
    exposition = MetricsExposition(metrics, [], ProcessDirectory(tmp_path, "11-1"))
    serve(metrics, "acme/churn", 2, 0.01)
    exposition.render_now()
    serve(metrics, "acme/churn", 3, 0.01)
    exposition.render_now()
    assert exposition.directory is not None
    seen = merged(exposition.directory)
    assert seen[("shoal_model_requests_total", (("class", "2xx"), ("model", "acme/churn")))] == 5


def test_a_stopped_process_leaves_its_counters_but_not_its_gauges(tmp_path: Path) -> None:
    staying = ProcessDirectory(tmp_path, "11-1")
    leaving = ProcessDirectory(tmp_path, "22-2")
    counter = CounterMetricFamily("shoal_cache_hits", "Hits.")
    counter.add_metric([], 10)
    for directory, resident in ((staying, 1), (leaving, 2)):
        directory.write([Family(counter), *gauges(resident, 50)])
    leaving.close()
    seen = merged(staying)
    assert seen[("shoal_cache_hits_total", ())] == 20  # counters stay monotonic
    assert seen[("shoal_cache_resident_models", ())] == 1


def test_a_sweep_removes_the_gauges_of_processes_that_died(tmp_path: Path) -> None:
    alive = ProcessDirectory(tmp_path)  # this test process: its identity is alive
    assert alive.identity == process_identity()
    dead = ProcessDirectory(tmp_path, "999999999-1")  # no such process
    for directory in (alive, dead):
        directory.write(gauges(3, 10))
    ProcessDirectory(tmp_path, "12345").write(gauges(4, 10))  # not named by us: left alone
    assert alive.sweep() == 2  # the dead process's livesum and livemax files
    assert merged(alive)[("shoal_cache_resident_models", ())] == 3 + 4
    assert (tmp_path / "gauge_livesum_12345.db").exists()


def _write_hits(directory: ProcessDirectory, hits: int) -> None:
    counter = CounterMetricFamily("shoal_cache_hits", "Hits.")
    counter.add_metric([], hits)
    directory.write([Family(counter)])


def test_a_process_forked_after_the_folder_was_opened_writes_files_of_its_own(
    tmp_path: Path,
) -> None:
    directory = ProcessDirectory(tmp_path)
    _write_hits(directory, 1)
    child = multiprocessing.get_context("fork").Process(target=_write_hits, args=(directory, 5))
    child.start()
    child.join(timeout=30)
    assert child.exitcode == 0
    assert len(list(tmp_path.glob("counter_*.db"))) == 2
    assert merged(directory)[("shoal_cache_hits_total", ())] == 6
