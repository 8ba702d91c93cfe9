import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import ExtraTreesClassifier, GradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.preprocessing import StandardScaler

from shoal.errors import ValidationError
from shoal.runtimes.base import LoadOptions
from shoal.runtimes.compact_boosting import CompactBoosting
from shoal.runtimes.compact_linear import CompactLinear
from shoal.runtimes.estimators import EstimatorModel
from shoal.runtimes.fast_path import (
    FAST_DIR,
    META_FILE,
    MODEL_FILE,
    FastModel,
    Tolerance,
    attach,
    convert,
    load_fast,
    write,
)
from shoal.runtimes.sklearn import SklearnRuntime


def _data(rows: int = 300, columns: int = 16):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(rows, columns))
    y = (x[:, 0] + 0.5 * x[:, 1] + 0.3 * rng.normal(size=rows) > 0).astype(np.int32)
    return x, y


def _fast(model, sample, tmp_path: Path) -> FastModel:
    """The ONNX form of ``model`` (compact forms have tests of their own)."""
    result = convert(model, {"input": sample}, compact_forms=False)
    assert result.available, result.reason
    write(tmp_path, result)
    loaded = load_fast(tmp_path, LoadOptions())
    assert isinstance(loaded, FastModel)
    return loaded


def test_a_model_with_a_compact_form_takes_it_exactly(tmp_path) -> None:
    x, y = _data()
    model = GradientBoostingClassifier(n_estimators=20).fit(x, y)
    result = convert(model, {"input": x[:5]}, tolerance=Tolerance(atol=0.0, rtol=0.0))
    assert result.kind == "compact"
    assert result.reason == "verified on 261 rows (compact gradient-boosted trees)"
    assert result.max_abs_diff["probabilities"] == 0.0
    write(tmp_path, result)
    assert isinstance(load_fast(tmp_path, LoadOptions()), CompactBoosting)
    assert not (tmp_path / FAST_DIR / MODEL_FILE).exists()


def test_a_model_whose_compact_form_fails_falls_back_to_onnx() -> None:
    x, y = _data()
    names = np.array(["churn", "stay"])[y]  # string labels have no compact form
    result = convert(LogisticRegression().fit(x, names), {"input": x[:5]})
    assert result.kind == "onnx"
    refused = convert(
        KNeighborsClassifier(metric=lambda a, b: float(np.abs(a - b).sum())).fit(x, y),
        {"input": x[:5]},
    )
    assert refused.kind == "none"
    assert refused.reason.startswith("cannot convert")  # no compact form was tried for it


def test_labels_come_back_in_the_dtype_of_the_original_classes(tmp_path) -> None:
    x, y = _data()
    names = np.array(["churn", "stay"])[y]
    for folder, labels in ((tmp_path / "ints", y), (tmp_path / "strings", names)):
        folder.mkdir()
        model = LogisticRegression().fit(x, labels)
        got = _fast(model, x[:5], folder).predict({"input": x})
        want = EstimatorModel(model, "sklearn").predict({"input": x})
        assert got["label"].dtype == want["label"].dtype == labels.dtype
        np.testing.assert_array_equal(got["label"], want["label"])
        assert got["probabilities"].dtype == np.float64


def test_a_verified_result_records_its_precision_tolerance_and_differences(tmp_path) -> None:
    x, y = _data()
    result = convert(
        GradientBoostingClassifier(n_estimators=20).fit(x, y), {"input": x[:5]}, compact_forms=False
    )
    assert result.available
    assert result.input_dtype == "float32"  # onnxruntime's tree ensembles are float32 only
    assert result.rows == 5 + 256
    assert 0 < result.max_abs_diff["probabilities"] <= result.tolerance.atol
    write(tmp_path, result)
    meta = json.loads((tmp_path / FAST_DIR / META_FILE).read_text())
    assert [o["name"] for o in meta["outputs"]] == ["label", "probabilities"]
    assert meta["tolerance"] == {"atol": 1e-5, "rtol": 1e-5}
    assert meta["max_abs_diff"]["probabilities"] == result.max_abs_diff["probabilities"]


def test_a_linear_model_converts_to_a_float64_graph_that_agrees_to_rounding() -> None:
    x, y = _data()
    result = convert(LogisticRegression().fit(x, y), {"input": x[:5]}, compact_forms=False)
    assert result.input_dtype == "float64"
    assert result.max_abs_diff["probabilities"] < 1e-12


def test_a_conversion_outside_the_tolerance_is_refused() -> None:
    # float32 trees round each leaf sum (~1e-7): real, if tiny, disagreement with sklearn.
    x, y = _data()
    model = GradientBoostingClassifier(n_estimators=20).fit(x, y)
    exact = Tolerance(atol=0.0, rtol=0.0)
    result = convert(model, {"input": x[:5]}, tolerance=exact, compact_forms=False)
    assert not result.available
    assert result.onnx_bytes is None
    assert result.reason.startswith("disagrees with the original: probabilities differs by up to")


def test_a_forest_whose_float32_votes_break_ties_differently_is_refused() -> None:
    # A 5-row sample rarely holds a vote tie; the probe rows do, and the labels then differ.
    x, y = _data(rows=1000)
    model = ExtraTreesClassifier(n_estimators=50, random_state=0).fit(x, y)
    result = convert(model, {"input": x[:5]})
    assert not result.available
    assert "label differs on" in result.reason


def test_an_unconvertible_model_gives_a_reason_instead_of_raising(tmp_path) -> None:
    x, y = _data()
    model = KNeighborsClassifier(metric=lambda a, b: float(np.abs(a - b).sum())).fit(x, y)
    tags = attach(model, {"input": x[:5]}, tmp_path)
    assert tags["fast_path"] == "none"
    assert tags["fast_path_reason"].startswith("cannot convert")
    assert not (tmp_path / FAST_DIR).exists()


@pytest.mark.parametrize(
    ("model", "sample", "reason"),
    [
        (StandardScaler(), np.zeros((3, 4)), "transformers have no fast path"),
        (LogisticRegression(), np.array([["a", "b"]]), "numeric"),
        (object(), np.zeros((3, 4)), "neither predict nor transform"),
    ],
    ids=["transformer", "strings", "not-a-model"],
)
def test_models_and_inputs_without_a_fast_path_say_why(model, sample, reason) -> None:
    if isinstance(model, StandardScaler):
        model.fit(sample)
    result = convert(model, {"input": sample})
    assert not result.available
    assert reason in result.reason


def test_the_fast_model_takes_named_columns_like_the_sklearn_path(tmp_path) -> None:
    x, y = _data(columns=3)
    frame = pd.DataFrame(x, columns=["a", "b", "c"])
    model = LogisticRegression().fit(frame, y)
    fast = _fast(model, x[:5], tmp_path)
    columns = {"c": x[:10, 2], "a": x[:10, 0], "b": x[:10, 1]}
    np.testing.assert_array_equal(fast.predict(columns)["label"], model.predict(frame[:10]))
    with pytest.raises(ValidationError, match="has 2 columns; the model expects 3"):
        fast.predict({"input": x[:10, :2]})


def test_a_compact_model_takes_named_columns_like_the_sklearn_path(tmp_path) -> None:
    x, y = _data(columns=3)
    frame = pd.DataFrame(x, columns=["a", "b", "c"])
    model = GradientBoostingClassifier(n_estimators=10).fit(frame, y)
    result = convert(model, {"input": x[:5]})
    assert result.kind == "compact"
    write(tmp_path, result)
    fast = load_fast(tmp_path, LoadOptions())
    assert isinstance(fast, CompactBoosting)
    columns = {"c": x[:50, 2], "a": x[:50, 0], "b": x[:50, 1]}
    np.testing.assert_array_equal(fast.predict(columns)["label"], model.predict(frame[:50]))
    np.testing.assert_array_equal(
        fast.predict(columns)["probabilities"], model.predict_proba(frame[:50])
    )


def test_the_fast_model_refuses_rows_of_the_wrong_width(tmp_path) -> None:
    x, y = _data()
    fast = _fast(LogisticRegression().fit(x, y), x[:5], tmp_path)
    with pytest.raises(ValidationError, match="expected rows x 16 features"):
        fast.predict({"input": x[:10, :15]})


def test_native_bytes_is_the_heap_the_session_took(tmp_path) -> None:
    x, y = _data()
    forest = GradientBoostingClassifier(n_estimators=100, random_state=0).fit(x, y)
    (tmp_path / "lr").mkdir()
    (tmp_path / "forest").mkdir()
    small = _fast(LogisticRegression().fit(x, y), x[:5], tmp_path / "lr")
    big = _fast(forest, x[:5], tmp_path / "forest")
    file_size = (tmp_path / "forest" / FAST_DIR / MODEL_FILE).stat().st_size
    # A session holds far more than its file (tree nodes are unpacked into C++ structs).
    assert big.native_bytes() > file_size
    assert big.native_bytes() > small.native_bytes() > 0


def test_the_sklearn_runtime_serves_the_fast_form_only_when_asked(tmp_path) -> None:
    x, y = _data()
    model = LogisticRegression().fit(x, y)
    runtime = SklearnRuntime()
    runtime.save(model, tmp_path)
    assert isinstance(runtime.load(tmp_path, LoadOptions(prefer_fast=True)), EstimatorModel)
    write(tmp_path, convert(model, {"input": x[:5]}))
    assert isinstance(runtime.load(tmp_path, LoadOptions(prefer_fast=True)), CompactLinear)
    assert isinstance(runtime.load(tmp_path, LoadOptions()), EstimatorModel)


@pytest.mark.parametrize(
    ("compact_forms", "file", "garbage"),
    [
        (False, MODEL_FILE, b"not a graph"),
        (True, "compact.bin", b"not arrays"),
        (True, "compact.bin", b"SHOAL-COMPACT 1\n\x10\0\0\0\0\0\0\0{not json}      "),
    ],
)
def test_an_unreadable_fast_form_falls_back_to_the_sklearn_path(
    tmp_path, compact_forms: bool, file: str, garbage: bytes
) -> None:
    x, y = _data()
    model = LogisticRegression().fit(x, y)
    runtime = SklearnRuntime()
    runtime.save(model, tmp_path)
    write(tmp_path, convert(model, {"input": x[:5]}, compact_forms=compact_forms))
    assert (tmp_path / FAST_DIR / file).is_file()
    (tmp_path / FAST_DIR / file).write_bytes(garbage)
    assert load_fast(tmp_path, LoadOptions()) is None
    assert isinstance(runtime.load(tmp_path, LoadOptions(prefer_fast=True)), EstimatorModel)
