"""Data capture through the app: what is captured is what was sent and returned; the settings
over HTTP (admin only, tenants isolated); the inference id; a failing writer never fails a call."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import orjson
import pytest
from fastapi.testclient import TestClient
from numpy.typing import NDArray

from shoal.client import Client
from shoal.observability.capture import DataCapture
from shoal.server import ServerConfig, create_app
from shoal.settings import Settings
from shoal.storage.capture_writer import decode_tensors
from shoal.wiring import build_capture, build_capture_files, build_inference, build_services
from tests.integration.conftest import fit_classifier
from tests.integration.test_inference_api import infer_body


@dataclass
class Served:
    api: TestClient
    shoal: Client
    capture: DataCapture
    settings: Settings
    admin: dict[str, str]
    tenant: dict[str, str]

    def infer(self, body: dict[str, object], model: str = "acme/churn") -> dict[str, object]:
        response = self.api.post(f"/v2/models/{model}/infer", json=body, headers=self.admin)
        assert response.status_code == 200, response.text
        assert response.headers["shoal-inference-id"] == response.json()["id"]
        answer: dict[str, object] = response.json()
        return answer

    def set_percent(self, path: str, percent: float) -> None:
        response = self.api.put(
            f"/api/v1/capture/{path}", json={"percent": percent}, headers=self.admin
        )
        assert response.status_code == 200, response.text
        self.capture.refresh_rules()  # what the writer thread does every capture_config_ttl_s


@pytest.fixture
def serve(settings: Settings, features: NDArray[np.float64]) -> Iterator[Served]:
    fresh = settings.model_copy(
        update={"key_cache_ttl_s": 0.0, "resolve_ttl_s": 0.0, "capture_flush_interval_s": 3600}
    )
    with Client(services=build_services(fresh), actor="admin") as shoal:
        for tenant in ("acme", "globex"):
            shoal.create_tenant(tenant)
            shoal.register(f"{tenant}/churn", fit_classifier(features), sample_input=features[:4])
        services = shoal.services
        capture = build_capture(fresh, services)
        app = create_app(
            build_inference(fresh, services),
            ServerConfig(),
            access=services.access,
            capture=capture,
            capture_config=services.capture,
        )
        _, admin = shoal.create_key("ops")
        _, tenant = shoal.create_key("ci", tenant="acme")
        with TestClient(app) as api:
            yield Served(
                api,
                shoal,
                capture,
                fresh,
                {"Authorization": f"Bearer {admin}"},
                {"Authorization": f"Bearer {tenant}"},
            )


def outputs_of(answer: dict[str, object]) -> dict[str, NDArray[np.generic]]:
    entries = answer["outputs"]
    assert isinstance(entries, list)
    return {o["name"]: np.array(o["data"]).reshape(o["shape"]) for o in entries}


def test_what_is_captured_equals_what_was_sent_and_returned(
    serve: Served, features: NDArray[np.float64]
) -> None:
    serve.set_percent("models/acme/churn", 100)
    began = time.time()
    sent = {"req-1": features[:3]}
    answers = {"req-1": serve.infer(infer_body(features[:3]))}
    for rows in (features[3:4], features[4:9]):
        body = infer_body(rows)
        del body["id"]
        answer = serve.infer(body)
        sent[str(answer["id"])] = rows
        answers[str(answer["id"])] = answer
    serve.capture.flush()
    frame = build_capture_files(serve.settings).read("acme", "churn")
    assert sorted(frame["inference_id"]) == sorted(sent)
    for row in frame.to_dict("records"):
        # A JSON request and response are kept exactly as sent and returned ...
        assert orjson.loads(row["response"]) == answers[row["inference_id"]]
        # ... and read back as the tensors the caller sent and received.
        inputs = decode_tensors(row["request"])
        np.testing.assert_array_equal(inputs["input"], sent[row["inference_id"]])
        returned = outputs_of(answers[row["inference_id"]])
        captured = decode_tensors(row["response"])
        assert captured.keys() == returned.keys()
        for name, array in returned.items():
            np.testing.assert_allclose(captured[name], array)
        assert (row["tenant"], row["model"], row["model_version"]) == ("acme", "churn", 1)
        assert began - 1 <= row["timestamp"].timestamp() <= time.time() + 1
    stats = serve.api.get("/api/v1/capture/stats", headers=serve.admin).json()
    assert stats == {
        "running": True,
        "enqueued": 3,
        "dropped": 0,
        "written": 3,
        "failed": 0,
        "queued": 0,
        "queued_bytes": 0,
        "files": 1,
    }
    scrape = serve.api.get("/metrics", headers=serve.admin).text
    assert 'shoal_capture_records_total{outcome="written"} 3.0' in scrape
    assert "shoal_capture_files_total 1.0" in scrape


def test_binary_tensors_are_captured_as_values(
    serve: Served, features: NDArray[np.float64]
) -> None:
    serve.set_percent("tenants/acme", 100)
    x = features[:2]
    head = orjson.dumps(
        {
            "inputs": [
                {
                    "name": "input",
                    "datatype": "FP64",
                    "shape": [2, 4],
                    "parameters": {"binary_data_size": x.nbytes},
                }
            ],
            "outputs": [{"name": "probabilities", "parameters": {"binary_data": True}}],
        }
    )
    response = serve.api.post(
        "/v2/models/acme/churn/infer",
        content=head + x.tobytes(),
        headers={"Inference-Header-Content-Length": str(len(head)), **serve.admin},
    )
    assert response.status_code == 200, response.text
    length = int(response.headers["inference-header-content-length"])
    returned = np.frombuffer(response.content[length:], dtype=np.float64).reshape(2, 2)
    serve.capture.flush()
    [row] = build_capture_files(serve.settings).read("acme", "churn").to_dict("records")
    assert row["inference_id"] == response.headers["shoal-inference-id"]
    np.testing.assert_array_equal(decode_tensors(row["request"])["input"], x)
    np.testing.assert_array_equal(decode_tensors(row["response"])["probabilities"], returned)


def test_the_inference_id_is_the_requests_or_a_new_one_and_a_bad_one_is_refused(
    serve: Served, features: NDArray[np.float64]
) -> None:
    assert serve.infer(infer_body(features[:1]))["id"] == "req-1"
    body = infer_body(features[:1])
    del body["id"]
    first, second = serve.infer(body)["id"], serve.infer(body)["id"]
    assert first != second
    assert isinstance(first, str)
    assert len(first) == 32
    body["id"] = "réq-ü"
    response = serve.api.post("/v2/models/acme/churn/infer", json=body, headers=serve.admin)
    assert response.json()["id"] == "réq-ü"
    assert response.headers["shoal-inference-id"] == "r%C3%A9q-%C3%BC"
    body["id"] = "evil\r\nSet-Cookie: x=1"
    refused = serve.api.post("/v2/models/acme/churn/infer", json=body, headers=serve.admin)
    assert refused.status_code == 400
    assert "'id' must be up to 256 printable characters" in refused.json()["error"]


def test_models_without_a_percent_capture_nothing(
    serve: Served, features: NDArray[np.float64]
) -> None:
    serve.set_percent("tenants/acme", 100)
    serve.set_percent("models/acme/churn", 0)  # its own 0 % wins over the tenant's 100 %
    serve.infer(infer_body(features[:1]))
    serve.infer(infer_body(features[:1]), model="globex/churn")
    serve.capture.flush()
    files = build_capture_files(serve.settings)
    assert files.read("acme", "churn").empty
    assert files.read("globex", "churn").empty
    assert serve.capture.stats().enqueued == 0


def test_only_admin_keys_change_capture_and_tenants_see_only_their_own(serve: Served) -> None:
    api, admin, tenant = serve.api, serve.admin, serve.tenant
    body = {"percent": 10}
    assert (
        api.put("/api/v1/capture/models/acme/churn", json=body, headers=tenant).status_code == 403
    )
    assert api.put("/api/v1/capture/models/acme/churn", json=body, headers=admin).status_code == 200
    assert api.put("/api/v1/capture/tenants/globex", json=body, headers=admin).status_code == 200
    own = api.get("/api/v1/capture/models/acme/churn", headers=tenant).json()
    assert own["percent"] == 10.0
    assert own["source"]["updated_by"].startswith("key:")
    other = api.get("/api/v1/capture/models/globex/churn", headers=tenant)
    assert other.status_code == 404
    assert other.json()["error"] == "model globex/churn does not exist"
    listed = api.get("/api/v1/capture", headers=tenant).json()["items"]
    assert [(c["tenant"], c["model"]) for c in listed] == [("acme", "churn")]
    assert api.get("/api/v1/capture?tenant=globex", headers=tenant).status_code == 404
    everything = api.get("/api/v1/capture", headers=admin).json()["items"]
    assert [(c["tenant"], c["model"]) for c in everything] == [("acme", "churn"), ("globex", None)]
    assert api.get("/api/v1/capture/stats", headers=tenant).status_code == 403
    assert api.get("/api/v1/capture").status_code == 401
    removed = api.delete("/api/v1/capture/tenants/globex", headers=admin)
    assert (removed.status_code, removed.json()["percent"]) == (200, 10.0)
    assert api.delete("/api/v1/capture/tenants/globex", headers=admin).status_code == 404


@pytest.mark.parametrize(
    ("path", "body", "status", "message"),
    [
        ("models/acme/churn", {"percent": 101}, 400, "percent"),
        ("models/acme/churn", {"percent": "all"}, 400, "percent"),
        ("models/acme/churn", {"percent": 5, "extra": 1}, 400, "extra"),
        ("models/acme/fraud", {"percent": 5}, 404, "model acme/fraud does not exist"),
        ("models/ACME/churn", {"percent": 5}, 400, "tenant name 'ACME'"),
        ("tenants/ghost", {"percent": 5}, 404, "tenant 'ghost' does not exist"),
    ],
)
def test_bad_capture_settings_are_refused_naming_the_value(
    serve: Served, path: str, body: dict[str, object], status: int, message: str
) -> None:
    response = serve.api.put(f"/api/v1/capture/{path}", json=body, headers=serve.admin)
    assert response.status_code == status, response.text
    assert message in response.json()["error"]


def test_a_failing_capture_writer_never_fails_an_inference(
    serve: Served, features: NDArray[np.float64], caplog: pytest.LogCaptureFixture
) -> None:
    # The capture folder cannot be created: a file stands where it would go.
    Path(serve.settings.resolved_artifact_url, "capture").write_text("in the way")
    serve.set_percent("models/acme/churn", 100)
    for _ in range(3):
        serve.infer(infer_body(features[:1]))
    serve.capture.flush()
    stats = serve.capture.stats()
    assert (stats.enqueued, stats.written, stats.failed) == (3, 0, 3)
    assert "writing captured inferences failed" in caplog.text
