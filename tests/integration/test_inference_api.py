"""The V2 inference API in-process: metadata, infer, errors, versions, alias moves, repository."""

import asyncio
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import orjson
import pytest
from fastapi.testclient import TestClient
from numpy.typing import NDArray
from sklearn.ensemble import IsolationForest

from shoal.client import Client
from shoal.server import ServerConfig, create_app
from shoal.settings import Settings
from shoal.wiring import build_inference
from tests.integration.conftest import fit_classifier
from tests.integration.faulty_model import FaultyModel


@pytest.fixture
def api(client: Client, settings: Settings) -> Iterator[TestClient]:
    serving_settings = settings.model_copy(update={"resolve_ttl_s": 0.0})
    inference = build_inference(serving_settings, client.services)
    app = create_app(inference, ServerConfig(max_body_bytes=64 * 1024))
    with TestClient(app) as test_client:
        yield test_client


def infer_body(x: NDArray[np.float64], name: str = "input") -> dict[str, object]:
    return {
        "id": "req-1",
        "inputs": [
            {"name": name, "datatype": "FP64", "shape": list(x.shape), "data": x.ravel().tolist()}
        ],
    }


def outputs_of(response_json: dict[str, object]) -> dict[str, np.ndarray]:
    outs = response_json["outputs"]
    assert isinstance(outs, list)
    return {o["name"]: np.array(o["data"]).reshape(o["shape"]) for o in outs}


def test_server_metadata_and_health(api: TestClient) -> None:
    meta = api.get("/v2").json()
    assert meta["name"] == "shoal"
    assert "model_repository" in meta["extensions"]
    assert api.get("/v2/health/live").status_code == 200
    for _ in range(200):  # ready once onnxruntime is imported, in the background
        if api.get("/v2/health/ready").status_code == 200:
            break
        api.portal.call(asyncio.sleep, 0.05)
    assert api.get("/v2/health/ready").status_code == 200


def test_inference_returns_what_the_model_predicts(
    api: TestClient, client: Client, features: NDArray[np.float64]
) -> None:
    model = fit_classifier(features)
    client.register("acme/churn", model, sample_input=features[:5])
    response = api.post("/v2/models/acme/churn/infer", json=infer_body(features[:7]))
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["model_name"], body["model_version"], body["id"]) == ("acme/churn", "1", "req-1")
    out = outputs_of(body)
    np.testing.assert_array_equal(out["label"], model.predict(features[:7]))
    np.testing.assert_allclose(out["probabilities"], model.predict_proba(features[:7]), atol=1e-6)


def test_model_metadata_shows_the_signature(
    api: TestClient, client: Client, features: NDArray[np.float64]
) -> None:
    client.register("acme/churn", fit_classifier(features), sample_input=features[:5])
    meta = api.get("/v2/models/acme/churn").json()
    assert meta["name"] == "acme/churn"
    assert meta["versions"] == ["1"]
    assert meta["inputs"] == [{"name": "input", "datatype": "FP64", "shape": [-1, 4]}]
    assert api.get("/v2/models/acme%2Fchurn").json()["name"] == "acme/churn"


def test_versions_and_aliases_are_addressable(
    api: TestClient, client: Client, features: NDArray[np.float64]
) -> None:
    for seed in range(2):
        client.register("acme/churn", fit_classifier(features, seed), sample_input=features[:5])
    client.set_alias("acme/churn:1", "production")
    served = {
        path: api.post(path, json=infer_body(features[:2])).json()["model_version"]
        for path in (
            "/v2/models/acme/churn/infer",
            "/v2/models/acme/churn/versions/2/infer",
            "/v2/models/acme/churn/versions/production/infer",
        )
    }
    assert list(served.values()) == ["1", "2", "1"]


@pytest.mark.parametrize(
    ("path", "body", "status", "message"),
    [
        ("/v2/models/acme/nope/infer", None, 404, "model acme/nope does not exist"),
        ("/v2/models/nobody/churn/infer", None, 404, "tenant 'nobody' does not exist"),
        ("/v2/models/acme/churn/versions/9/infer", None, 404, "has no version 9"),
        (
            "/v2/models/acme/churn/infer",
            {"inputs": [{"name": "input", "datatype": "FP64", "shape": [1, 3], "data": [1, 2, 3]}]},
            400,
            "expects 'input' as FP64 [n, 4]",
        ),
        (
            "/v2/models/acme/churn/infer",
            {
                "inputs": [
                    {"name": "input", "datatype": "BYTES", "shape": [1, 4], "data": ["a"] * 4}
                ]
            },
            400,
            "is BYTES",
        ),
        (
            "/v2/models/acme/churn/infer",
            {"inputs": [{"name": "input", "datatype": "FP64", "shape": [1, 4], "data": [1, 2]}]},
            400,
            "has 2 values but shape [1, 4] needs 4",
        ),
        ("/v2/models/acme/churn/infer", {"inputs": []}, 400, "'inputs' must be a non-empty"),
        ("/v2/models/Acme/churn/infer", None, 400, "lower-case"),
    ],
)
def test_bad_requests_get_a_clear_json_error(
    api: TestClient,
    client: Client,
    features: NDArray[np.float64],
    path: str,
    body: dict[str, object] | None,
    status: int,
    message: str,
) -> None:
    client.register("acme/churn", fit_classifier(features), sample_input=features[:5])
    response = api.post(path, json=body or infer_body(features[:1]))
    assert response.status_code == status, response.text
    assert message in response.json()["error"]


def test_malformed_json_is_a_400_and_a_large_body_a_413(
    api: TestClient, client: Client, features: NDArray[np.float64]
) -> None:
    client.register("acme/churn", fit_classifier(features), sample_input=features[:5])
    bad = api.post(
        "/v2/models/acme/churn/infer",
        content=b"{not json",
        headers={"content-type": "application/json"},
    )
    assert bad.status_code == 400
    assert "not valid JSON" in bad.json()["error"]
    big = np.random.default_rng(1).normal(size=(4000, 4))  # ~300 KB of JSON
    response = api.post("/v2/models/acme/churn/infer", json=infer_body(big))
    assert response.status_code == 413
    assert "limit" in response.json()["error"]


def test_a_failing_model_fails_only_its_own_requests(
    api: TestClient, client: Client, features: NDArray[np.float64], monkeypatch: pytest.MonkeyPatch
) -> None:
    client.register("acme/churn", fit_classifier(features), sample_input=features[:5])
    client.register("acme/faulty", FaultyModel(), verify=False)
    failed = api.post("/v2/models/acme/faulty/infer", json=infer_body(features[:1]))
    assert failed.status_code == 500
    assert "always fails" in failed.json()["error"]
    assert api.post("/v2/models/acme/churn/infer", json=infer_body(features[:1])).status_code == 200


def test_a_corrupt_artifact_fails_that_model_and_others_keep_serving(
    api: TestClient, client: Client, settings: Settings, features: NDArray[np.float64]
) -> None:
    client.register("acme/churn", fit_classifier(features), sample_input=features[:5])
    broken = client.register("acme/broken", fit_classifier(features, 1), sample_input=features[:5])
    [blob] = (settings.home / "artifacts").rglob(broken.artifact.digest)
    blob.write_bytes(b"garbage")
    failed = api.post("/v2/models/acme/broken/infer", json=infer_body(features[:1]))
    assert failed.status_code == 500
    assert "corrupt" in failed.json()["error"]
    assert api.post("/v2/models/acme/churn/infer", json=infer_body(features[:1])).status_code == 200


def test_an_alias_move_switches_traffic_after_a_smoke_test(
    api: TestClient, client: Client, settings: Settings, features: NDArray[np.float64]
) -> None:
    for seed in range(3):
        client.register("acme/churn", fit_classifier(features, seed), sample_input=features[:5])
    client.set_alias("acme/churn:1", "production")

    def served() -> str:
        response = api.post("/v2/models/acme/churn/infer", json=infer_body(features[:1]))
        assert response.status_code == 200, response.text
        return str(response.json()["model_version"])

    assert served() == "1"
    # No poll of the registry still in flight: one that began before the move could read it and
    # finish the switch before the next request, which must show it has not happened yet.
    api.portal.call(api.app.state.inference.settle)  # type: ignore[union-attr]
    client.set_alias("acme/churn:2", "production")
    assert served() == "1"  # the switch happens in the background, after v2 passed
    api.portal.call(api.app.state.inference.settle)  # type: ignore[union-attr]
    assert served() == "2"
    # A broken version is never switched to: v2 keeps serving and the index says why.
    v3 = client.get_version("acme/churn:3")
    [blob] = (settings.home / "artifacts").rglob(v3.artifact.digest)
    blob.write_bytes(b"garbage")
    client.set_alias("acme/churn:3", "production")
    served()
    api.portal.call(api.app.state.inference.settle)  # type: ignore[union-attr]
    assert served() == "2"
    index = api.post("/v2/repository/index").json()
    assert any(e["state"] == "UNAVAILABLE" and e["version"] == "3" for e in index)


def test_the_repository_extension_loads_and_unloads(
    api: TestClient, client: Client, features: NDArray[np.float64]
) -> None:
    client.register("acme/churn", fit_classifier(features), sample_input=features[:5])
    assert api.get("/v2/models/acme/churn/ready").status_code == 400
    assert api.post("/v2/repository/models/acme/churn/load").status_code == 200
    assert api.get("/v2/models/acme/churn/ready").status_code == 200
    index = api.post("/v2/repository/index").json()
    assert {"name": "acme/churn:1", "version": "1", "state": "RESIDENT", "reason": ""} in index
    assert api.post("/v2/repository/models/acme/churn/unload").status_code == 200
    assert api.get("/v2/models/acme/churn/ready").status_code == 400
    stats = api.get("/v2/cache").json()["stats"]
    assert stats["loads"] == 1
    assert stats["evictions"] >= 1


def test_binary_tensors_in_and_out(
    api: TestClient, client: Client, features: NDArray[np.float64]
) -> None:
    model = IsolationForest(n_estimators=10, random_state=0).fit(features)
    client.register("acme/anomaly", model, sample_input=features[:5])
    x = features[:6].astype(np.float64)
    head = orjson.dumps(
        {
            "inputs": [
                {
                    "name": "input",
                    "datatype": "FP64",
                    "shape": [6, 4],
                    "parameters": {"binary_data_size": x.nbytes},
                }
            ],
            "outputs": [{"name": "score", "parameters": {"binary_data": True}}],
        }
    )
    response = api.post(
        "/v2/models/acme/anomaly/infer",
        content=head + x.tobytes(),
        headers={"Inference-Header-Content-Length": str(len(head))},
    )
    assert response.status_code == 200, response.text
    length = int(response.headers["inference-header-content-length"])
    meta = orjson.loads(response.content[:length])
    [output] = meta["outputs"]
    scores = np.frombuffer(response.content[length:], dtype=np.float64)
    np.testing.assert_allclose(scores, model.decision_function(x), atol=1e-6)
    assert output["parameters"]["binary_data_size"] == scores.nbytes


def test_the_hot_set_survives_a_restart(
    client: Client, settings: Settings, tmp_path: Path, features: NDArray[np.float64]
) -> None:
    client.register("acme/churn", fit_classifier(features), sample_input=features[:5])
    config = ServerConfig(hot_set_file=tmp_path / "hot.json")
    with TestClient(create_app(build_inference(settings, client.services), config)) as first:
        first.post("/v2/models/acme/churn/infer", json=infer_body(features[:1]))
    inference = build_inference(settings, client.services)
    with TestClient(create_app(inference, config)) as second:
        second.portal.call(inference.settle)
        for _ in range(100):
            if second.get("/v2/models/acme/churn/ready").status_code == 200:
                break
            second.portal.call(asyncio.sleep, 0.05)
        assert second.get("/v2/models/acme/churn/ready").status_code == 200


def test_a_model_with_named_columns_takes_columns_or_one_matrix(
    api: TestClient, client: Client, features: NDArray[np.float64]
) -> None:
    import pandas as pd

    frame = pd.DataFrame(features, columns=["a", "b", "c", "d"])
    model = fit_classifier(features).fit(frame, (features[:, 0] > 0).astype(int))
    client.register("acme/named", model, sample_input=frame.head(5))
    columns = {
        "inputs": [
            {"name": n, "datatype": "FP64", "shape": [3], "data": frame[n].head(3).tolist()}
            for n in "abcd"
        ]
    }
    by_columns = api.post("/v2/models/acme/named/infer", json=columns)
    by_matrix = api.post("/v2/models/acme/named/infer", json=infer_body(features[:3]))
    assert by_columns.status_code == by_matrix.status_code == 200, by_matrix.text
    expected = model.predict(frame.head(3)).tolist()
    assert outputs_of(by_columns.json())["label"].tolist() == expected
    assert outputs_of(by_matrix.json())["label"].tolist() == expected


def test_pinned_models_are_loaded_at_start_and_never_evicted(
    client: Client, settings: Settings, features: NDArray[np.float64]
) -> None:
    from shoal.registry.refs import ModelRef

    client.register("acme/churn", fit_classifier(features), sample_input=features[:5])
    config = ServerConfig(pinned=(ModelRef("acme", "churn"),))
    inference = build_inference(settings, client.services)
    with TestClient(create_app(inference, config)) as api:
        assert api.get("/v2/models/acme/churn/ready").status_code == 200
        [entry] = api.get("/v2/cache").json()["entries"]
        assert entry["pinned"] is True
        assert inference.cache.hot_keys(10) == ["acme/churn:1"]


def test_a_starting_server_learns_every_route_in_bulk_and_still_follows_changes(
    client: Client, settings: Settings, features: NDArray[np.float64]
) -> None:
    for seed in range(2):
        client.register("acme/churn", fit_classifier(features, seed), sample_input=features[:5])
    client.set_alias("acme/churn:1", "production")
    client.register("acme/fraud", fit_classifier(features), sample_input=features[:5])
    inference = build_inference(settings.model_copy(update={"resolve_ttl_s": 0.0}), client.services)
    with TestClient(create_app(inference, ServerConfig())) as api:
        for _ in range(200):  # routes are read in the background once the server is ready
            if len(inference.routes()) == 2:
                break
            api.portal.call(asyncio.sleep, 0.05)
        routes = {route.ref: route.version for route in inference.routes()}
        assert routes == {"acme/churn": 1, "acme/fraud": 1}  # before any request
        client.set_alias("acme/churn:2", "production")  # after the bulk read: polled as usual
        response = api.post("/v2/models/acme/churn/infer", json=infer_body(features[:1]))
        assert response.json()["model_version"] == "1"
        api.portal.call(inference.settle)
        response = api.post("/v2/models/acme/churn/infer", json=infer_body(features[:1]))
        assert response.json()["model_version"] == "2"
