import joblib
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from shoal.errors import UnsupportedModelError, UntrustedArtifactError
from shoal.runtimes.base import LoadOptions
from shoal.runtimes.pickle import PickleRuntime


def _fitted():
    rng = np.random.default_rng(4)
    X = rng.normal(size=(60, 3))
    return LogisticRegression().fit(X, (X[:, 0] > 0).astype(int)), X


def test_loading_a_pickle_is_refused_by_default_with_how_to_opt_in(tmp_path):
    model, _ = _fitted()
    PickleRuntime().save(model, tmp_path)
    with pytest.raises(UntrustedArtifactError, match="runs arbitrary code") as caught:
        PickleRuntime().load(tmp_path, LoadOptions())
    assert "trust=True" in str(caught.value)
    assert "SHOAL_ALLOW_PICKLE=1" in str(caught.value)


def test_a_pickle_loads_and_predicts_exactly_when_allowed(tmp_path):
    model, X = _fitted()
    PickleRuntime().save(model, tmp_path)
    loaded = PickleRuntime().load(tmp_path, LoadOptions(allow_pickle=True))
    outputs = loaded.predict({"input": X})
    np.testing.assert_array_equal(outputs["label"], model.predict(X))
    np.testing.assert_array_equal(outputs["probabilities"], model.predict_proba(X))


@pytest.mark.parametrize("compress", [0, 3])
def test_adopt_takes_a_joblib_file_without_unpickling_it(compress, tmp_path):
    model, X = _fitted()
    source = tmp_path / "model.joblib"
    joblib.dump(model, source, compress=compress)
    dest = tmp_path / "adopted"
    dest.mkdir()
    PickleRuntime().adopt(source, dest)
    loaded = PickleRuntime().load(dest, LoadOptions(allow_pickle=True))
    np.testing.assert_array_equal(loaded.predict({"input": X})["label"], model.predict(X))


def test_adopt_refuses_a_file_that_is_not_a_pickle(tmp_path):
    source = tmp_path / "model.pkl"
    source.write_text("hello")
    dest = tmp_path / "adopted"
    dest.mkdir()
    with pytest.raises(UnsupportedModelError, match="not a pickle"):
        PickleRuntime().adopt(source, dest)
