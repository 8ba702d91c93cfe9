from pathlib import Path

import numpy as np
import pytest
from sklearn.ensemble import IsolationForest

from shoal.runtimes.compact_forest import CompactForest, compile_forest, save
from shoal.serving.footprint import measure_footprint


@pytest.mark.parametrize(
    "params",
    [
        {"n_estimators": 50},
        {"n_estimators": 20, "max_features": 0.5},
        {"n_estimators": 30, "contamination": 0.1, "max_samples": 64},
    ],
)
def test_a_compact_forest_scores_and_labels_exactly_like_sklearn(
    params: dict[str, object], tmp_path: Path
) -> None:
    rng = np.random.default_rng(0)
    model = IsolationForest(random_state=0, **params).fit(rng.normal(size=(400, 8)))  # type: ignore[arg-type]
    save(tmp_path, compile_forest(model, 8))
    forest = CompactForest.load(tmp_path)
    fresh = np.vstack([rng.normal(size=(3000, 8)) * 1.5, rng.normal(size=(50, 8)) * 6])
    out = forest.predict({"input": fresh})
    np.testing.assert_array_equal(out["label"], model.predict(fresh))
    np.testing.assert_allclose(out["score"], model.decision_function(fresh), rtol=0, atol=1e-12)
    one = forest.predict({"input": fresh[:1]})  # the single-row path walks without a row axis
    np.testing.assert_allclose(one["score"], model.decision_function(fresh[:1]), atol=1e-12)


def test_a_compact_forest_is_much_smaller_than_the_sklearn_object(tmp_path: Path) -> None:
    model = IsolationForest(n_estimators=50, random_state=0).fit(
        np.random.default_rng(1).normal(size=(1000, 16))
    )
    save(tmp_path, compile_forest(model, 16))
    assert measure_footprint(CompactForest.load(tmp_path)) < measure_footprint(model) / 2
