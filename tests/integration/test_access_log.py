"""The access log of the in-process app, written to a file as configured."""

import numpy as np
import orjson
from fastapi.testclient import TestClient
from numpy.typing import NDArray

from shoal.client import Client
from shoal.server import ServerConfig, create_app
from shoal.settings import Settings
from shoal.wiring import build_inference, build_telemetry
from tests.integration.conftest import fit_classifier
from tests.integration.test_inference_api import infer_body


def test_each_request_is_one_json_line_without_the_key_or_the_payload(
    client: Client, settings: Settings, features: NDArray[np.float64]
) -> None:
    log_file = settings.home / "logs" / "access.jsonl"
    configured = settings.model_copy(update={"access_log_file": log_file})
    client.register("acme/churn", fit_classifier(features), sample_input=features[:4])
    _, token = client.create_key("ci", tenant="acme")
    key = {"Authorization": f"Bearer {token}", "X-Request-Id": "order-17"}
    marker = 0.123456789  # a payload value that must not be logged
    body = infer_body(np.full((1, 4), marker))
    inference = build_inference(configured, client.services)
    telemetry = build_telemetry(configured, client.services, inference)
    app = create_app(inference, ServerConfig(), client.services.access, telemetry=telemetry)
    with TestClient(app) as api:
        assert api.post("/v2/models/acme/churn/infer", json=body, headers=key).status_code == 200
        assert api.post("/v2/models/acme/churn/infer", json=body).status_code == 401
        assert api.get("/v2/health/live").status_code == 200  # probes are not logged
    text = log_file.read_text()  # the app's shutdown flushed the buffer
    assert token not in text
    assert str(marker) not in text
    served, refused = (orjson.loads(line) for line in text.splitlines())
    assert served["request_id"] == "order-17"
    assert (served["tenant"], served["model"], served["version"]) == ("acme", "acme/churn", 1)
    assert (served["status"], served["cache"]) == (200, "miss")
    assert served["latency_ms"] > 0
    assert (refused["status"], refused["version"], refused["cache"]) == (401, None, None)
