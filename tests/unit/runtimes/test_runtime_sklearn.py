from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.cluster import KMeans
from sklearn.ensemble import GradientBoostingClassifier, IsolationForest, RandomForestRegressor
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from shoal.errors import RuntimeLoadError, UnsupportedModelError, UntrustedArtifactError
from shoal.runtimes.base import LoadOptions
from shoal.runtimes.sklearn import SklearnRuntime


class MajorityClassifier(ClassifierMixin, BaseEstimator):
    """A custom estimator class: skops does not trust it by default."""

    def fit(self, X, y):  # noqa: N803 - sklearn API naming
        self.classes_, counts = np.unique(y, return_counts=True)
        self.majority_ = self.classes_[np.argmax(counts)]
        return self

    def predict(self, X):  # noqa: N803
        return np.full(len(X), self.majority_)


def _data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 4))
    y = (X[:, 0] + X[:, 1] > 0).astype(np.int64)
    return X, y


DEFAULT_OPTIONS = LoadOptions()


def _save_and_load(model, tmp_path: Path, options: LoadOptions = DEFAULT_OPTIONS):
    runtime = SklearnRuntime()
    dest = tmp_path / "artifact"
    dest.mkdir()
    runtime.save(model, dest)
    return runtime.load(dest, options)


@pytest.mark.parametrize(
    "model",
    [
        LogisticRegression(),
        GradientBoostingClassifier(n_estimators=10, random_state=0),
        make_pipeline(StandardScaler(), LogisticRegression()),
    ],
    ids=["logistic", "gradient-boosting", "pipeline"],
)
def test_a_classifier_predicts_exactly_the_same_labels_and_probabilities_after_load(
    model, tmp_path
):
    X, y = _data()
    model.fit(X, y)
    outputs = _save_and_load(model, tmp_path).predict({"input": X})
    assert set(outputs) == {"label", "probabilities"}
    np.testing.assert_array_equal(outputs["label"], model.predict(X))
    np.testing.assert_array_equal(outputs["probabilities"], model.predict_proba(X))


def test_an_isolation_forest_returns_labels_and_scores(tmp_path):
    X, _ = _data()
    model = IsolationForest(n_estimators=20, random_state=0).fit(X)
    outputs = _save_and_load(model, tmp_path).predict({"input": X})
    np.testing.assert_array_equal(outputs["label"], model.predict(X))
    np.testing.assert_array_equal(outputs["score"], model.decision_function(X))


def test_a_regressor_returns_its_prediction(tmp_path):
    X, y = _data()
    model = RandomForestRegressor(n_estimators=5, random_state=0).fit(X, X[:, 2] + y)
    outputs = _save_and_load(model, tmp_path).predict({"input": X})
    assert list(outputs) == ["prediction"]
    np.testing.assert_array_equal(outputs["prediction"], model.predict(X))


def test_a_transformer_returns_its_output(tmp_path):
    X, _ = _data()
    model = StandardScaler().fit(X)
    outputs = _save_and_load(model, tmp_path).predict({"input": X})
    np.testing.assert_array_equal(outputs["output"], model.transform(X))


def test_a_model_fitted_on_named_columns_takes_columns_in_any_order(tmp_path):
    X, y = _data()
    frame = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    model = LogisticRegression().fit(frame, y)
    loaded = _save_and_load(model, tmp_path)
    columns = {name: frame[name].to_numpy() for name in ["d", "c", "b", "a"]}
    outputs = loaded.predict(columns)
    np.testing.assert_array_equal(outputs["probabilities"], model.predict_proba(frame))


def test_a_clusterer_without_predict_proba_returns_its_prediction(tmp_path):
    X, _ = _data()
    model = KMeans(n_clusters=2, n_init=1, random_state=0).fit(X)
    outputs = _save_and_load(model, tmp_path).predict({"input": X})
    np.testing.assert_array_equal(outputs["prediction"], model.predict(X))


def test_a_custom_class_is_untrusted_until_named_in_trusted_types(tmp_path):
    X, y = _data()
    model = MajorityClassifier().fit(X, y)
    with pytest.raises(UntrustedArtifactError, match="MajorityClassifier") as caught:
        _save_and_load(model, tmp_path)
    assert "trusted_types" in str(caught.value)
    custom = f"{MajorityClassifier.__module__}.MajorityClassifier"
    loaded = SklearnRuntime().load(tmp_path / "artifact", LoadOptions(trusted_types=(custom,)))
    np.testing.assert_array_equal(loaded.predict({"input": X})["label"], model.predict(X))


def test_adopt_copies_a_skops_file_that_loads(tmp_path):
    import skops.io

    X, y = _data()
    model = LogisticRegression().fit(X, y)
    source = tmp_path / "model.skops"
    skops.io.dump(model, source)
    dest = tmp_path / "adopted"
    dest.mkdir()
    runtime = SklearnRuntime()
    runtime.adopt(source, dest)
    outputs = runtime.load(dest, LoadOptions()).predict({"input": X})
    np.testing.assert_array_equal(outputs["probabilities"], model.predict_proba(X))


def test_adopt_refuses_a_garbage_file(tmp_path):
    source = tmp_path / "model.skops"
    source.write_bytes(b"not a zip file")
    dest = tmp_path / "adopted"
    dest.mkdir()
    with pytest.raises(UnsupportedModelError, match=r"model\.skops"):
        SklearnRuntime().adopt(source, dest)


def test_loading_a_garbage_artifact_raises_runtime_load_error(tmp_path):
    (tmp_path / "model.skops").write_bytes(b"\x00garbage")
    with pytest.raises(RuntimeLoadError, match="sklearn"):
        SklearnRuntime().load(tmp_path, LoadOptions())


def test_a_function_from_a_trusted_package_is_still_untrusted():
    from shoal.runtimes.sklearn import _is_trusted_class

    assert _is_trusted_class("sklearn.tree._tree.Tree")
    assert not _is_trusted_class("numpy.load")
    assert not _is_trusted_class("os.system")
    assert not _is_trusted_class("sklearn.no_such_module.Thing")


def test_saving_something_that_is_not_an_estimator_is_refused(tmp_path):
    with pytest.raises(UnsupportedModelError, match="dict"):
        SklearnRuntime().save({"a": 1}, tmp_path)
