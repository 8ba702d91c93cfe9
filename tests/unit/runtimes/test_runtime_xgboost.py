import sys

import numpy as np
import pandas as pd
import pytest
import xgboost

from shoal.errors import RuntimeLoadError, UnsupportedModelError
from shoal.runtimes.base import LoadOptions
from shoal.runtimes.xgboost import XGBoostRuntime


def _data(n_classes: int):
    rng = np.random.default_rng(2)
    X = rng.normal(size=(200, 4))
    y = np.digitize(X[:, 0] - X[:, 2], np.linspace(-1, 1, n_classes - 1))
    return X, y


def _save_and_load(model, tmp_path):
    runtime = XGBoostRuntime()
    dest = tmp_path / "artifact"
    dest.mkdir()
    runtime.save(model, dest)
    return runtime.load(dest, LoadOptions())


@pytest.mark.parametrize("n_classes", [2, 3])
def test_a_classifier_predicts_exactly_the_same_after_load(n_classes, tmp_path):
    X, y = _data(n_classes)
    model = xgboost.XGBClassifier(n_estimators=10, max_depth=3, random_state=0).fit(X, y)
    outputs = _save_and_load(model, tmp_path).predict({"input": X})
    np.testing.assert_array_equal(outputs["probabilities"], model.predict_proba(X))
    np.testing.assert_array_equal(outputs["label"], model.predict(X))


def test_a_regressor_fitted_on_named_columns_predicts_exactly_the_same(tmp_path):
    X, _ = _data(2)
    frame = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    model = xgboost.XGBRegressor(n_estimators=10).fit(frame, X[:, 1] * 3)
    loaded = _save_and_load(model, tmp_path)
    columns = {name: frame[name].to_numpy() for name in ["d", "b", "c", "a"]}
    np.testing.assert_array_equal(loaded.predict(columns)["prediction"], model.predict(frame))


def test_a_booster_predicts_exactly_the_same_after_load(tmp_path):
    X, y = _data(2)
    booster = xgboost.train(
        {"objective": "binary:logistic"}, xgboost.DMatrix(X, label=y), num_boost_round=8
    )
    outputs = _save_and_load(booster, tmp_path).predict({"input": X})
    np.testing.assert_array_equal(outputs["prediction"], booster.predict(xgboost.DMatrix(X)))


@pytest.mark.parametrize("suffix", [".ubj", ".json"])
def test_adopt_takes_a_native_model_file_and_keeps_the_wrapper_kind(suffix, tmp_path):
    X, y = _data(3)
    model = xgboost.XGBClassifier(n_estimators=5).fit(X, y)
    source = tmp_path / f"model{suffix}"
    model.save_model(source)
    dest = tmp_path / "adopted"
    dest.mkdir()
    runtime = XGBoostRuntime()
    runtime.adopt(source, dest)
    outputs = runtime.load(dest, LoadOptions()).predict({"input": X})
    np.testing.assert_array_equal(outputs["probabilities"], model.predict_proba(X))


def test_adopt_refuses_a_garbage_file(tmp_path):
    source = tmp_path / "model.ubj"
    source.write_bytes(b"\x00\x01garbage")
    dest = tmp_path / "adopted"
    dest.mkdir()
    with pytest.raises(UnsupportedModelError, match=r"model\.ubj"):
        XGBoostRuntime().adopt(source, dest)


def test_loading_a_garbage_artifact_raises_runtime_load_error(tmp_path):
    (tmp_path / "model.ubj").write_bytes(b"garbage")
    with pytest.raises(RuntimeLoadError, match="xgboost"):
        XGBoostRuntime().load(tmp_path, LoadOptions())


def test_a_missing_xgboost_package_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "xgboost", None)
    with pytest.raises(UnsupportedModelError, match=r"pip install 'shoal\[xgboost\]'"):
        XGBoostRuntime().load(tmp_path, LoadOptions())
