"""Traces from the in-process app: nested spans, sampling, errors always kept, probes never."""

from collections.abc import Iterator

import numpy as np
import pytest
from fastapi.testclient import TestClient
from numpy.typing import NDArray
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from shoal.client import Client
from shoal.server import ServerConfig, create_app
from shoal.settings import Settings
from shoal.wiring import build_inference, build_services, build_telemetry
from tests.integration.conftest import fit_classifier
from tests.integration.faulty_model import FaultyModel
from tests.integration.test_inference_api import infer_body


@pytest.fixture
def shoal(settings: Settings, features: NDArray[np.float64]) -> Iterator[Client]:
    with Client(services=build_services(settings), actor="admin") as client:
        client.create_tenant("acme")
        client.register("acme/churn", fit_classifier(features), sample_input=features[:4])
        client.register("acme/faulty", FaultyModel(), verify=False)
        client.set_plan("acme", rate_per_s=1000, burst=1000)
        yield client


def traced(
    shoal: Client, settings: Settings, rate: float
) -> tuple[TestClient, InMemorySpanExporter]:
    configured = settings.model_copy(update={"trace_sample_rate": rate})
    inference = build_inference(configured, shoal.services)
    memory = InMemorySpanExporter()
    telemetry = build_telemetry(configured, shoal.services, inference, memory)
    app = create_app(inference, ServerConfig(), shoal.services.access, telemetry=telemetry)
    return TestClient(app), memory


def roots(spans: list[ReadableSpan]) -> list[ReadableSpan]:
    return [span for span in spans if span.kind is SpanKind.SERVER]


def children(spans: list[ReadableSpan], root: ReadableSpan) -> list[str]:
    return [
        span.name
        for span in spans
        if span.parent is not None and span.parent.span_id == root.context.span_id
    ]


def test_an_inference_is_a_request_span_with_auth_plan_load_and_predict_inside(
    shoal: Client, settings: Settings, features: NDArray[np.float64]
) -> None:
    _, token = shoal.create_key("ci", tenant="acme")
    key = {"Authorization": f"Bearer {token}"}
    api, memory = traced(shoal, settings, 1.0)
    with api:
        for _ in range(2):  # cold, then warm
            response = api.post(
                "/v2/models/acme/churn/infer", json=infer_body(features[:1]), headers=key
            )
            assert response.status_code == 200
    spans = list(memory.get_finished_spans())  # the exporter flushed when the app stopped
    cold, warm = roots(spans)
    assert cold.name == "POST /v2/models/{tenant}/{model}/infer"
    assert children(spans, cold) == ["auth", "usage_plan", "model.load", "predict"]
    assert children(spans, warm) == ["auth", "usage_plan", "predict"]
    attributes = dict(cold.attributes or {})
    assert attributes["shoal.model"] == "acme/churn"
    assert attributes["shoal.model.version"] == 1
    assert attributes["shoal.cache"] == "miss"
    for span in spans:
        if span.parent is not None and span.parent.span_id == cold.context.span_id:
            assert span.start_time is not None
            assert span.end_time is not None
            assert cold.start_time is not None
            assert cold.end_time is not None
            assert cold.start_time <= span.start_time <= span.end_time <= cold.end_time


def test_a_refused_request_marks_the_phase_that_refused_it_failed(
    shoal: Client, settings: Settings, features: NDArray[np.float64]
) -> None:
    _, token = shoal.create_key("ci", tenant="acme")
    shoal.set_plan("acme", rate_per_s=0.001, burst=1)
    api, memory = traced(shoal, settings, 1.0)
    body = infer_body(features[:1])
    with api:
        forged = {"Authorization": "Bearer shoal_0123456789abcdef_" + "x" * 43}
        assert api.post("/v2/models/acme/churn/infer", json=body, headers=forged).status_code == 401
        key = {"Authorization": f"Bearer {token}"}
        assert api.post("/v2/models/acme/churn/infer", json=body, headers=key).status_code == 200
        assert api.post("/v2/models/acme/churn/infer", json=body, headers=key).status_code == 429
    spans = list(memory.get_finished_spans())
    unknown, allowed, limited = roots(spans)

    def phases(root: ReadableSpan) -> list[tuple[str, StatusCode]]:
        return [
            (span.name, span.status.status_code)
            for span in spans
            if span.parent is not None and span.parent.span_id == root.context.span_id
        ]

    assert phases(unknown) == [("auth", StatusCode.ERROR)]
    assert phases(allowed)[:2] == [("auth", StatusCode.UNSET), ("usage_plan", StatusCode.UNSET)]
    assert phases(limited) == [("auth", StatusCode.UNSET), ("usage_plan", StatusCode.ERROR)]


def test_at_a_zero_rate_only_failures_are_traced_and_probes_never(
    shoal: Client, settings: Settings, features: NDArray[np.float64]
) -> None:
    _, token = shoal.create_key("ops")
    key = {"Authorization": f"Bearer {token}"}
    api, memory = traced(shoal, settings, 0.0)
    with api:
        for _ in range(5):
            ok = api.post("/v2/models/acme/churn/infer", json=infer_body(features[:1]), headers=key)
            assert ok.status_code == 200
        failed = api.post(
            "/v2/models/acme/faulty/infer", json=infer_body(features[:1]), headers=key
        )
        assert failed.status_code == 500
        assert api.get("/v2/health/ready").status_code == 200
        assert api.get("/v2/health/live").status_code == 200
        assert api.get("/v2/models/acme/churn", headers=key).status_code == 200
    [root] = roots(list(memory.get_finished_spans()))
    assert dict(root.attributes or {})["shoal.model"] == "acme/faulty"
    assert root.status.status_code is StatusCode.ERROR


def test_every_other_route_is_traced_under_its_template_at_full_rate(
    shoal: Client, settings: Settings
) -> None:
    _, token = shoal.create_key("ops")
    api, memory = traced(shoal, settings, 1.0)
    with api:
        api.get("/v2/models/acme/churn", headers={"Authorization": f"Bearer {token}"})
        api.get("/v2/health/ready")
    [root] = roots(list(memory.get_finished_spans()))
    assert root.name == "GET /v2/models/{tenant}/{model}"
    assert dict(root.attributes or {})["http.response.status_code"] == 200
