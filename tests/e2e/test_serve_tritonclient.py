"""A real ``shoal serve`` process on 127.0.0.1, driven by tritonclient's HTTP client (unchanged)."""

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from shoal.cli.demo_traffic import running_server
from shoal.client import Client
from shoal.settings import Settings

httpclient = pytest.importorskip("tritonclient.http", reason="tritonclient is a dev dependency")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, LogisticRegression, np.ndarray, dict[str, str]]]:
    x = np.random.default_rng(0).normal(size=(100, 16)).astype(np.float32)
    model = LogisticRegression().fit(x, (x[:, 0] > 0).astype(int))
    with Client(Settings(home=tmp_path)) as client:
        client.create_tenant("acme")
        client.register("acme/churn", model, sample_input=x[:4], aliases=["production"])
        _, token = client.create_key("triton")
    with running_server(tmp_path, "64MiB") as url:  # `python -m shoal serve` as a process
        yield url.removeprefix("http://"), model, x, {"Authorization": f"Bearer {token}"}


@pytest.mark.slow
def test_tritonclient_talks_to_shoal_unchanged(
    server: tuple[str, LogisticRegression, np.ndarray, dict[str, str]],
) -> None:
    url, model, x, key = server
    triton = httpclient.InferenceServerClient(url=url)
    assert triton.is_server_ready()
    assert "model_repository" in triton.get_server_metadata()["extensions"]
    meta = triton.get_model_metadata("acme/churn", headers=key)
    assert meta["inputs"][0]["shape"] == [-1, 16]

    inputs = [httpclient.InferInput("input", list(x.shape), "FP32")]
    inputs[0].set_data_from_numpy(x)  # binary tensor extension, tritonclient's default
    outputs = [
        httpclient.InferRequestedOutput("probabilities"),
        httpclient.InferRequestedOutput("label", binary_data=False),
    ]
    result = triton.infer(
        "acme/churn", inputs, outputs=outputs, model_version="production", headers=key
    )
    np.testing.assert_array_equal(result.as_numpy("label"), model.predict(x))
    np.testing.assert_allclose(result.as_numpy("probabilities"), model.predict_proba(x), atol=1e-6)
    assert result.get_response()["model_version"] == "1"

    triton.unload_model("acme/churn", headers=key)
    assert not triton.is_model_ready("acme/churn", headers=key)
    triton.load_model("acme/churn", headers=key)
    assert triton.is_model_ready("acme/churn", headers=key)
    index = triton.get_model_repository_index(headers=key)
    assert any(entry["name"] == "acme/churn:1" for entry in index)

    with pytest.raises(Exception, match="does not exist"):
        triton.infer("acme/nope", inputs, headers=key)
    with pytest.raises(Exception, match="API key is required"):
        triton.infer("acme/churn", inputs)
