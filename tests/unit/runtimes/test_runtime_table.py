import importlib
import subprocess
import sys
from pathlib import Path

import lightgbm
import numpy as np
import pytest
import xgboost
from skl2onnx import to_onnx
from sklearn.ensemble import GradientBoostingClassifier, IsolationForest
from sklearn.linear_model import LogisticRegression

from shoal.errors import RuntimeLoadError, UnsupportedModelError
from shoal.runtimes import BUILTIN_RUNTIMES, LoadOptions, RuntimeTable
from shoal.runtimes.dependencies import is_installed
from shoal.runtimes.sklearn import SklearnRuntime


def _xy():
    rng = np.random.default_rng(5)
    X = rng.normal(size=(60, 3)).astype(np.float32)
    return X, (X[:, 0] > 0).astype(np.int64)


def _encoder():
    sys.path.insert(0, str(Path(__file__).parent))
    try:
        return importlib.import_module("encoder_model").CategoryEncoder(["a"])
    finally:
        sys.path.pop(0)


def _models():
    X, y = _xy()
    logistic = LogisticRegression().fit(X, y)
    return {
        "logistic": (logistic, "sklearn"),
        "isolation-forest": (IsolationForest(n_estimators=5).fit(X), "sklearn"),
        "gradient-boosting": (GradientBoostingClassifier(n_estimators=3).fit(X, y), "sklearn"),
        "lgbm-classifier": (
            lightgbm.LGBMClassifier(n_estimators=3, verbose=-1).fit(X, y),
            "lightgbm",
        ),
        "lgbm-booster": (
            lightgbm.train({"verbose": -1}, lightgbm.Dataset(X, y), num_boost_round=2),
            "lightgbm",
        ),
        "xgb-classifier": (xgboost.XGBClassifier(n_estimators=2).fit(X, y), "xgboost"),
        "onnx-proto": (to_onnx(logistic, X[:1], target_opset=17), "onnx"),
        "python": (_encoder(), "python"),
    }


@pytest.mark.parametrize("case", list(_models()))
def test_for_object_picks_the_runtime_of_the_models_framework(case):
    model, expected = _models()[case]
    assert RuntimeTable(discover_entry_points=False).for_object(model).name == expected


@pytest.mark.parametrize("obj", [{"weights": [1, 2]}, np.zeros(3), "model.pkl"])
def test_for_object_refuses_an_unsupported_object_and_never_picks_pickle(obj):
    with pytest.raises(UnsupportedModelError, match=type(obj).__qualname__):
        RuntimeTable().for_object(obj)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("m.skops", "sklearn"),
        ("m.onnx", "onnx"),
        ("m.ubj", "xgboost"),
        ("m.xgb", "xgboost"),
        ("m.lgb", "lightgbm"),
        ("m.LGBM", "lightgbm"),
        ("m.pkl", "pickle"),
        ("m.pickle", "pickle"),
        ("m.joblib", "pickle"),
    ],
)
def test_for_file_picks_the_runtime_by_suffix(name, expected, tmp_path):
    assert RuntimeTable().for_file(tmp_path / name).name == expected


def test_for_file_picks_python_for_a_folder_with_an_entry_file(tmp_path):
    (tmp_path / "shoal-python.json").write_text("{}")
    assert RuntimeTable().for_file(tmp_path).name == "python"


def test_for_file_takes_json_only_when_the_format_is_named(tmp_path):
    with pytest.raises(UnsupportedModelError, match="xgboost"):
        RuntimeTable().for_file(tmp_path / "model.json")
    assert RuntimeTable().for_file(tmp_path / "model.json", format="xgboost").name == "xgboost"


def test_get_names_the_known_formats_for_an_unknown_one():
    with pytest.raises(UnsupportedModelError, match="known formats: lightgbm, onnx, pickle"):
        RuntimeTable().get("torch")


def test_names_lists_every_builtin_format():
    assert set(RuntimeTable().names()) >= set(BUILTIN_RUNTIMES)


def test_get_returns_one_cached_runtime_per_name():
    table = RuntimeTable()
    assert table.get("sklearn") is table.get("sklearn")
    assert isinstance(table.get("sklearn"), SklearnRuntime)


@pytest.fixture(autouse=True)
def _fresh_install_checks():
    # is_installed is cached per process; tests that hide a framework need a fresh answer.
    is_installed.cache_clear()
    yield
    is_installed.cache_clear()


def test_a_missing_optional_framework_says_which_extra_to_install(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "lightgbm", None)
    with pytest.raises(UnsupportedModelError, match=r"pip install 'shoal\[lightgbm\]'"):
        RuntimeTable().for_file(tmp_path / "model.lgb")


def test_for_object_works_without_the_optional_frameworks_installed(monkeypatch):
    X, y = _xy()
    monkeypatch.setitem(sys.modules, "lightgbm", None)
    monkeypatch.setitem(sys.modules, "xgboost", None)
    assert RuntimeTable().for_object(LogisticRegression().fit(X, y)).name == "sklearn"


class SumRuntime:
    """A tiny third-party style runtime given to the table as an object."""

    name = "sum"
    file_suffixes = (".sum",)

    def can_save(self, obj):
        return isinstance(obj, tuple)

    def save(self, obj, dest):
        (dest / "model.sum").write_text(",".join(map(str, obj)))

    def adopt(self, source, dest):
        (dest / "model.sum").write_text(source.read_text())

    def load(self, path, options):
        raise NotImplementedError


def test_extra_runtimes_take_part_in_object_and_file_lookup(tmp_path):
    table = RuntimeTable({**BUILTIN_RUNTIMES, "sum": SumRuntime()})
    assert table.for_object((1, 2)).name == "sum"
    assert table.for_file(tmp_path / "a.sum").name == "sum"
    assert "sum" in table.names()


def test_a_runtime_spec_that_does_not_import_is_a_runtime_load_error():
    table = RuntimeTable({"broken": "no_such_module_xyz:Runtime"}, discover_entry_points=False)
    with pytest.raises(RuntimeLoadError, match="no_such_module_xyz"):
        table.get("broken")


def test_the_table_serves_a_saved_model_end_to_end(tmp_path):
    X, y = _xy()
    model = LogisticRegression().fit(X, y)
    table = RuntimeTable()
    runtime = table.for_object(model)
    runtime.save(model, tmp_path)
    loaded = table.get(runtime.name).load(tmp_path, LoadOptions())
    np.testing.assert_array_equal(loaded.predict({"input": X})["label"], model.predict(X))


def test_importing_runtimes_and_choosing_one_imports_no_ml_framework():
    code = (
        "import sys, numpy as np\n"
        "from pathlib import Path\n"
        "import shoal.runtimes as r\n"
        "t = r.RuntimeTable()\n"
        "[t.get(n) for n in t.names()]\n"
        "t.for_file(Path('m.onnx'))\n"
        "try:\n"
        "    t.for_object(np.zeros(2))\n"
        "except Exception:\n"
        "    pass\n"
        "heavy = ['sklearn', 'lightgbm', 'xgboost', 'onnx', 'onnxruntime', 'skops', 'joblib']\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
