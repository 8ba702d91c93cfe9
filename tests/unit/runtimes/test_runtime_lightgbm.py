import sys

import lightgbm
import numpy as np
import pytest

from shoal.errors import RuntimeLoadError, UnsupportedModelError
from shoal.runtimes.base import LoadOptions
from shoal.runtimes.lightgbm import LightGBMRuntime


def _data(n_classes: int):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(200, 5))
    y = np.digitize(X[:, 0] + 0.5 * X[:, 1], np.linspace(-1, 1, n_classes - 1))
    return X, y


def _save_and_load(model, tmp_path):
    runtime = LightGBMRuntime()
    dest = tmp_path / "artifact"
    dest.mkdir()
    runtime.save(model, dest)
    return runtime.load(dest, LoadOptions())


@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("labels", [None, np.array(["low", "mid", "high"])])
def test_a_classifier_predicts_exactly_the_same_after_load(n_classes, labels, tmp_path):
    X, y = _data(n_classes)
    y = y if labels is None else labels[y]
    model = lightgbm.LGBMClassifier(n_estimators=15, verbose=-1, random_state=0).fit(X, y)
    outputs = _save_and_load(model, tmp_path).predict({"input": X})
    np.testing.assert_array_equal(outputs["probabilities"], model.predict_proba(X))
    np.testing.assert_array_equal(outputs["label"], model.predict(X))


def test_a_regressor_predicts_exactly_the_same_after_load(tmp_path):
    X, _ = _data(2)
    model = lightgbm.LGBMRegressor(n_estimators=15, verbose=-1).fit(X, X[:, 0] * 2 + X[:, 3])
    outputs = _save_and_load(model, tmp_path).predict({"input": X})
    np.testing.assert_array_equal(outputs["prediction"], model.predict(X))


def test_a_booster_predicts_exactly_the_same_after_load(tmp_path):
    X, y = _data(2)
    booster = lightgbm.train(
        {"objective": "binary", "verbose": -1}, lightgbm.Dataset(X, y), num_boost_round=10
    )
    loaded = _save_and_load(booster, tmp_path)
    columns = {f"Column_{i}": X[:, i] for i in range(X.shape[1])}
    np.testing.assert_array_equal(loaded.predict(columns)["prediction"], booster.predict(X))


def test_adopt_takes_a_native_model_file(tmp_path):
    X, y = _data(2)
    model = lightgbm.LGBMRegressor(n_estimators=5, verbose=-1).fit(X, y)
    source = tmp_path / "model.txt"
    model.booster_.save_model(str(source))
    dest = tmp_path / "adopted"
    dest.mkdir()
    runtime = LightGBMRuntime()
    runtime.adopt(source, dest)
    outputs = runtime.load(dest, LoadOptions()).predict({"input": X})
    np.testing.assert_array_equal(outputs["prediction"], model.predict(X))


def test_adopt_refuses_a_garbage_file(tmp_path):
    source = tmp_path / "model.lgb"
    source.write_text("this is not a model")
    dest = tmp_path / "adopted"
    dest.mkdir()
    with pytest.raises(UnsupportedModelError, match=r"model\.lgb"):
        LightGBMRuntime().adopt(source, dest)


def test_loading_a_garbage_artifact_raises_runtime_load_error(tmp_path):
    (tmp_path / "model.lgb").write_text("garbage")
    with pytest.raises(RuntimeLoadError, match="lightgbm"):
        LightGBMRuntime().load(tmp_path, LoadOptions())


def test_a_missing_lightgbm_package_says_how_to_install_it(tmp_path, monkeypatch):
    (tmp_path / "model.lgb").write_text("tree")
    monkeypatch.setitem(sys.modules, "lightgbm", None)  # makes `import lightgbm` fail
    with pytest.raises(UnsupportedModelError, match=r"pip install 'shoal\[lightgbm\]'"):
        LightGBMRuntime().load(tmp_path, LoadOptions())
