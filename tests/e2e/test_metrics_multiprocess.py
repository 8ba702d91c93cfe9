"""Two real ``shoal serve`` processes sharing one metrics folder: a scrape of either counts both."""

import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sklearn.linear_model import LogisticRegression

from shoal.cli.demo_traffic import serve_process
from shoal.client import Client
from shoal.settings import Settings

BODY = {"inputs": [{"name": "input", "datatype": "FP64", "shape": [1, 4], "data": [0.1] * 4}]}


@contextmanager
def server(home: Path, metrics_dir: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    with serve_process(
        home, "--no-auth", "--metrics-dir", str(metrics_dir), "--memory-budget", "64MiB"
    ) as served:
        yield served


def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = httpx.get(f"{url}/metrics", timeout=10)
    assert response.status_code == 200, response.text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


@pytest.mark.slow
def test_two_server_processes_writing_one_folder_are_counted_together(tmp_path: Path) -> None:
    x = np.random.default_rng(0).normal(size=(100, 4))
    with Client(Settings(home=tmp_path)) as client:
        client.create_tenant("acme")
        client.register("acme/churn", LogisticRegression().fit(x, x[:, 0] > 0), sample_input=x[:4])
    metrics_dir = tmp_path / "metrics"
    served = ("shoal_model_requests_total", (("class", "2xx"), ("model", "acme/churn")))
    with server(tmp_path, metrics_dir) as (first, _), server(tmp_path, metrics_dir) as (second, b):
        for url, count in ((first, 3), (second, 5)):
            for _ in range(count):
                assert httpx.post(f"{url}/v2/models/acme/churn/infer", json=BODY).status_code == 200
        scrape(second)  # a scrape writes its own process's counts first
        both = scrape(first)
        assert both[served] == 8
        assert both[("shoal_processes", ())] == 2
        assert both[("shoal_cache_resident_models", ())] == 2  # each process holds its own copy
        assert both[("shoal_request_duration_seconds_count", (("cache", "miss"),))] == 2
        assert both[("shoal_model_load_seconds_count", ())] == 2
        assert both[("process_resident_memory_bytes", ())] > 0

        b.send_signal(signal.SIGTERM)  # a clean stop leaves the live gauges of the group
        b.wait(timeout=15)
        after = scrape(first)
        assert after[served] == 8  # ...but its counts stay: the sums never go down
        assert after[("shoal_processes", ())] == 1
        assert after[("shoal_cache_resident_models", ())] == 1
