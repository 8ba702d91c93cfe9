import numpy as np
import onnxruntime as ort
import pytest
from sklearn.ensemble import IsolationForest

from shoal.runtimes.isolation_forest_onnx import isolation_forest_graph


@pytest.mark.parametrize(
    "params",
    [
        {"n_estimators": 50},
        {"n_estimators": 20, "max_features": 0.5},
        {"n_estimators": 30, "contamination": 0.1, "max_samples": 64},
    ],
)
def test_the_compact_graph_scores_and_labels_like_sklearn(params: dict[str, object]) -> None:
    rng = np.random.default_rng(0)
    train = rng.normal(size=(400, 8))
    model = IsolationForest(random_state=0, **params).fit(train)  # type: ignore[arg-type]
    session = ort.InferenceSession(
        isolation_forest_graph(model, 8), providers=["CPUExecutionProvider"]
    )
    fresh = np.vstack([rng.normal(size=(3000, 8)) * 1.5, rng.normal(size=(50, 8)) * 6])
    label, score = session.run(None, {"input": fresh.astype(np.float32)})
    np.testing.assert_array_equal(label, model.predict(fresh))
    np.testing.assert_allclose(score, model.decision_function(fresh), atol=1e-6)
