"""``GET /metrics`` on the in-process app: what inference traffic becomes, and who may read it."""

import time
from collections.abc import Iterator

import numpy as np
import pytest
from fastapi.testclient import TestClient
from numpy.typing import NDArray
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from shoal.client import Client
from shoal.server import ServerConfig, create_app
from shoal.settings import Settings
from shoal.wiring import build_inference, build_services, build_telemetry
from tests.integration.conftest import fit_classifier
from tests.integration.test_inference_api import infer_body

SCRAPE_TOKEN = "prometheus-scrape-token"

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@pytest.fixture
def shoal(settings: Settings, features: NDArray[np.float64]) -> Iterator[Client]:
    configured = settings.model_copy(
        update={"key_cache_ttl_s": 0.0, "metrics_token": SecretStr(SCRAPE_TOKEN)}
    )
    with Client(services=build_services(configured), actor="admin") as client:
        for tenant in ("acme", "globex"):
            client.create_tenant(tenant)
            client.register(f"{tenant}/churn", fit_classifier(features), sample_input=features[:4])
        yield client


def app_for(shoal: Client, settings: Settings, **updates: object) -> TestClient:
    configured = settings.model_copy(
        update={"metrics_token": SecretStr(SCRAPE_TOKEN), "key_cache_ttl_s": 0.0, **updates}
    )
    inference = build_inference(configured, shoal.services)
    telemetry = build_telemetry(configured, shoal.services, inference)
    app = create_app(inference, ServerConfig(), shoal.services.access, telemetry=telemetry)
    return TestClient(app, client=("127.0.0.1", 50000))


def scrape(api: TestClient, token: str) -> Samples:
    response = api.get("/metrics", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def test_inference_traffic_shows_up_per_model_per_status_and_per_cache_tier(
    shoal: Client, settings: Settings, features: NDArray[np.float64]
) -> None:
    _, token = shoal.create_key("ci", tenant="acme")
    key = {"Authorization": f"Bearer {token}"}
    with app_for(shoal, settings) as api:
        for _ in range(3):
            ok = api.post("/v2/models/acme/churn/infer", json=infer_body(features[:1]), headers=key)
            assert ok.status_code == 200
        wrong_shape = infer_body(features[:1, :2])
        bad = api.post("/v2/models/acme/churn/infer", json=wrong_shape, headers=key)
        assert bad.status_code == 400
        for name in ("nope", "nope2"):  # names that do not exist make no series
            api.post(f"/v2/models/acme/{name}/infer", json=infer_body(features[:1]), headers=key)
        api.post("/v2/models/globex/churn/infer", json=infer_body(features[:1]), headers=key)
        api.post("/v2/models/acme/churn/infer", json=infer_body(features[:1]))  # no key
        seen = scrape(api, SCRAPE_TOKEN)
    per_model = {
        (dict(labels)["model"], dict(labels)["class"]): value
        for (name, labels), value in seen.items()
        if name == "shoal_model_requests_total"
    }
    assert per_model == {("acme/churn", "2xx"): 3, ("acme/churn", "4xx"): 1}
    codes = {
        dict(labels)["code"]: value
        for (name, labels), value in seen.items()
        if name == "shoal_requests_total" and dict(labels)["handler"] == "infer"
    }
    assert codes == {"200": 3, "400": 1, "404": 3, "401": 1}
    assert seen[("shoal_request_duration_seconds_count", (("cache", "miss"),))] == 1
    assert seen[("shoal_request_duration_seconds_count", (("cache", "hit"),))] == 2
    # Refused before a model was leased (bad shape, unknown or hidden model, no key).
    assert seen[("shoal_request_duration_seconds_count", (("cache", "none"),))] == 5
    assert seen[("shoal_model_duration_seconds_count", (("cache", "hit"),))] == 2
    assert seen[("shoal_model_load_seconds_count", ())] == 1
    assert seen[("shoal_cache_misses_total", ())] == 1
    assert seen[("shoal_cache_resident_models", ())] == 1
    assert seen[("process_resident_memory_bytes", ())] > 0
    assert seen[("shoal_requests_in_flight", ())] == 0


def test_the_metrics_need_an_admin_key_the_scrape_token_or_the_loopback_setting(
    shoal: Client, settings: Settings
) -> None:
    _, tenant_token = shoal.create_key("ci", tenant="acme")
    _, admin_token = shoal.create_key("ops")
    with app_for(shoal, settings) as api:
        assert api.get("/metrics").status_code == 401
        assert api.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
        tenant = api.get("/metrics", headers={"Authorization": f"Bearer {tenant_token}"})
        assert tenant.status_code == 403
        assert api.get("/metrics", headers={"X-API-Key": admin_token}).status_code == 200
        assert scrape(api, SCRAPE_TOKEN)
    with app_for(shoal, settings, metrics_loopback=True) as api:
        assert api.get("/metrics").status_code == 200  # the test client calls from 127.0.0.1


def test_a_scraper_that_accepts_gzip_gets_it(shoal: Client, settings: Settings) -> None:
    with app_for(shoal, settings) as api:
        headers = {"Authorization": f"Bearer {SCRAPE_TOKEN}", "Accept-Encoding": "gzip"}
        response = api.get("/metrics", headers=headers)
    assert response.status_code == 200
    assert response.headers["content-encoding"] == "gzip"
    assert b"shoal_cache_budget_bytes" in response.content  # httpx decoded it


def test_usage_plan_utilisation_is_reported_per_subject_and_window(
    shoal: Client, settings: Settings, features: NDArray[np.float64]
) -> None:
    shoal.set_plan("acme", rate_per_s=100, burst=100, quota_per_day=4)
    _, token = shoal.create_key("ci", tenant="acme")
    with app_for(shoal, settings) as api:
        for _ in range(3):
            api.post(
                "/v2/models/acme/churn/infer",
                json=infer_body(features[:1]),
                headers={"Authorization": f"Bearer {token}"},
            )
        # Usage is read on a background thread (a query per plan): the first scrape starts it.
        seen = scrape(api, SCRAPE_TOKEN)
        for _ in range(200):
            if ("shoal_plan_usage_ratio", (("subject", "acme"), ("window", "day"))) in seen:
                break
            time.sleep(0.01)
            seen = scrape(api, SCRAPE_TOKEN)
    assert seen[("shoal_plan_usage_ratio", (("subject", "acme"), ("window", "day")))] == 0.75
    assert seen[("shoal_plan_usage_requests", (("subject", "acme"), ("window", "day")))] == 3
