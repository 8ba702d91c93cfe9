"""The compact forms compute what scikit-learn computes, to the bit, from a few arrays."""

from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray
from sklearn.dummy import DummyClassifier
from sklearn.ensemble import GradientBoostingClassifier, GradientBoostingRegressor, IsolationForest
from sklearn.linear_model import ElasticNet, LinearRegression, LogisticRegression, Ridge

from shoal.errors import ValidationError
from shoal.runtimes import compact
from shoal.runtimes.compact_common import expit
from shoal.runtimes.compact_forest import CompactForest, compile_forest
from shoal.runtimes.compact_trees import flatten
from shoal.runtimes.estimators import EstimatorModel
from shoal.serving.footprint import measure_footprint

RNG = np.random.default_rng(0)
X = RNG.normal(size=(400, 8))
BINARY = (X @ RNG.normal(size=8) > 0).astype(np.int64)
THREE = np.digitize(X[:, 0], [-0.5, 0.5]) + 10  # classes 10, 11, 12


def _models() -> dict[str, object]:
    return {
        "iforest": IsolationForest(n_estimators=50, random_state=0).fit(X),
        "iforest-subsampled": IsolationForest(
            n_estimators=20, max_features=0.5, max_samples=64, random_state=0
        ).fit(X),
        "iforest-contamination": IsolationForest(
            n_estimators=30, contamination=0.1, random_state=0
        ).fit(X),
        "gbt-binary": GradientBoostingClassifier(random_state=0).fit(X, BINARY),
        "gbt-three": GradientBoostingClassifier(n_estimators=30, random_state=0).fit(X, THREE),
        "gbt-regressor": GradientBoostingRegressor(random_state=0).fit(X, X[:, 0] ** 2),
        "gbt-huber": GradientBoostingRegressor(loss="huber", random_state=0).fit(X, X[:, 1]),
        "logistic": LogisticRegression().fit(X, BINARY),
        "logistic-three": LogisticRegression().fit(X, THREE),
        "linear": LinearRegression().fit(X, 3 * X[:, 0] + 1),
        "ridge-two-targets": Ridge().fit(X, np.c_[X[:, 0], X[:, 1]]),
        "elastic-net": ElasticNet(alpha=0.01).fit(X, X[:, 2]),
    }


MODELS = _models()


def _stored(model: object, tmp_path: Path) -> compact.CompactModel:
    form = compact.form_of(model)
    assert form is not None
    compact.save(tmp_path, form, form.compile(model, X.shape[1]))
    loaded = compact.load(tmp_path)
    assert loaded is not None
    return loaded


def _assert_same(
    got: dict[str, NDArray[np.generic]], want: dict[str, NDArray[np.generic]], blas: bool
) -> None:
    assert list(got) == list(want)
    for name, expected in want.items():
        assert got[name].dtype == expected.dtype, name
        assert got[name].shape == expected.shape, name
        if blas and expected.dtype.kind == "f":
            # BLAS rounds dot products by operand alignment: sklearn itself moves by an ulp
            np.testing.assert_array_max_ulp(got[name], expected, maxulp=2)
        else:
            np.testing.assert_array_equal(got[name], expected)  # the same bits, not just close


@pytest.mark.parametrize("name", list(MODELS))
def test_a_compact_model_gives_sklearns_outputs_bit_for_bit(name: str, tmp_path: Path) -> None:
    model = MODELS[name]
    fast = _stored(model, tmp_path)
    slow = EstimatorModel(model, "sklearn")
    fresh = np.vstack([RNG.normal(size=(2000, 8)) * 1.5, RNG.normal(size=(50, 8)) * 6])
    for rows in (fresh, fresh[:1], fresh[:7].astype(np.float32)):  # one row takes its own path
        blas = type(model).__module__.startswith("sklearn.linear_model")
        _assert_same(fast.predict({"input": rows}), slow.predict({"input": rows}), blas)


def test_a_forest_stored_by_an_earlier_version_still_loads_and_agrees(tmp_path: Path) -> None:
    # Before compact.bin, forests were np.savez'd as flatten() left them.
    model = MODELS["iforest-subsampled"]
    flat, _ = flatten(
        [e.tree_ for e in model.estimators_],
        [
            a + b - 1.0
            for a, b in zip(
                model._decision_path_lengths, model._average_path_length_per_tree, strict=True
            )
        ],
        [np.asarray(f) for f in model.estimators_features_],
    )
    params = compile_forest(model, X.shape[1])["params"]
    np.savez(tmp_path / "compact_forest.npz", **flat, params=params)
    assert compact.load(tmp_path) is None
    loaded = compact.load_legacy(tmp_path, None)
    assert isinstance(loaded, CompactForest)
    rows = RNG.normal(size=(300, 8))
    np.testing.assert_array_equal(
        loaded.predict({"input": rows})["score"], model.decision_function(rows)
    )


def test_a_damaged_compact_file_is_refused_not_misread(tmp_path: Path) -> None:
    model = MODELS["gbt-binary"]
    form = compact.form_of(model)
    assert form is not None
    compact.save(tmp_path, form, form.compile(model, X.shape[1]))
    whole = (tmp_path / compact.FILE).read_bytes()
    (tmp_path / compact.FILE).write_bytes(whole[: len(whole) // 2])  # truncated
    with pytest.raises(ValueError, match="buffer"):
        compact.load(tmp_path)
    (tmp_path / compact.FILE).write_bytes(b"PK" + whole[2:])
    with pytest.raises(ValueError, match="not a compact model file"):
        compact.load(tmp_path)
    with pytest.raises(ValueError, match="Python objects"):
        compact.save(tmp_path, form, {"labels": np.array(["a", None], dtype=object)})


def test_a_loaded_compact_model_views_one_read_only_buffer(tmp_path: Path) -> None:
    fast = _stored(MODELS["iforest"], tmp_path)
    # every array is a view of the file's bytes: counted once by the footprint, never written
    assert measure_footprint(fast) < (tmp_path / compact.FILE).stat().st_size + 16 * 1024
    assert measure_footprint(fast) < 80 * 1024


def test_an_isolation_forest_sends_missing_values_where_sklearn_does(tmp_path: Path) -> None:
    model = MODELS["iforest"]
    fast = _stored(model, tmp_path)
    rows = RNG.normal(size=(500, 8))
    rows[RNG.random(rows.shape) < 0.2] = np.nan
    for batch in (rows, rows[:1], rows[3:4]):
        np.testing.assert_array_equal(
            fast.predict({"input": batch})["score"], model.decision_function(batch)
        )


@pytest.mark.parametrize("name", ["gbt-binary", "logistic", "linear"])
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_models_that_refuse_missing_values_refuse_them_with_a_clear_error(
    name: str, bad: float, tmp_path: Path
) -> None:
    fast = _stored(MODELS[name], tmp_path)
    row = X[:1].copy()
    row[0, 3] = bad
    with pytest.raises(ValidationError, match=r"NaN|infinity"):
        fast.predict({"input": row})


@pytest.mark.parametrize("name", ["iforest", "gbt-binary", "logistic"])
def test_a_compact_model_checks_the_number_of_features(name: str, tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="8 features"):
        _stored(MODELS[name], tmp_path).predict({"input": X[:2, :5]})


def test_compact_trees_are_a_fraction_of_the_sklearn_objects(tmp_path: Path) -> None:
    for name in ("iforest", "gbt-binary"):
        folder = tmp_path / name
        folder.mkdir()
        assert (
            measure_footprint(_stored(MODELS[name], folder)) < measure_footprint(MODELS[name]) / 4
        )
    assert measure_footprint(_stored(MODELS["logistic"], tmp_path)) < 2048


def test_models_without_a_compact_form_are_refused_with_the_reason() -> None:
    custom_init = GradientBoostingClassifier(
        n_estimators=5, init=DummyClassifier(strategy="prior")
    ).fit(X, BINARY)
    # a sklearn.dummy init is a constant too, so it compiles; any other estimator does not
    assert compact.form_of(custom_init) is not None
    custom_init.init_ = LogisticRegression().fit(X, BINARY)
    exponential = GradientBoostingClassifier(n_estimators=5, loss="exponential").fit(X, BINARY)
    labelled = LogisticRegression().fit(X, np.where(BINARY == 1, "yes", "no"))
    for model, reason in [
        (custom_init, "init estimator"),
        (exponential, "exponential"),
        (labelled, "class labels"),
    ]:
        form = compact.form_of(model)
        assert form is not None
        with pytest.raises(ValueError, match=reason):
            form.compile(model, X.shape[1])
    assert compact.form_of(DummyClassifier().fit(X, BINARY)) is None


def test_expit_is_scipys_to_the_bit() -> None:
    from scipy.special import expit as scipy_expit

    values = np.concatenate([RNG.normal(size=20_000) * 10, [0.0, -800.0, 800.0, -710.0, np.nan]])
    np.testing.assert_array_equal(expit(values), scipy_expit(values))
