import importlib
import json
from pathlib import Path

import numpy as np
import pytest

from shoal.errors import RuntimeLoadError, UnsupportedModelError
from shoal.runtimes.base import LoadOptions
from shoal.runtimes.python import ENTRY_FILE, PythonRuntime


@pytest.fixture
def encoder_module(monkeypatch):
    """The example user module, importable by name as a real installed package would be."""
    monkeypatch.syspath_prepend(str(Path(__file__).parent))
    return importlib.import_module("encoder_model")


def _save(model, tmp_path):
    dest = tmp_path / "artifact"
    dest.mkdir()
    PythonRuntime().save(model, dest)
    return dest


def test_a_saved_user_model_loads_and_predicts_the_same(encoder_module, tmp_path):
    model = encoder_module.CategoryEncoder(["red", "green", "blue"])
    dest = _save(model, tmp_path)
    loaded = PythonRuntime().load(dest, LoadOptions())
    inputs = {"category": np.array(["blue", "red", "purple"])}
    np.testing.assert_array_equal(loaded.predict(inputs)["code"], model.predict(inputs)["code"])


def test_the_artifact_holds_only_data_and_the_entry_point(encoder_module, tmp_path):
    dest = _save(encoder_module.CategoryEncoder(["a"]), tmp_path)
    files = sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file())
    assert files == ["data/encoding.json", ENTRY_FILE]
    entry = json.loads((dest / ENTRY_FILE).read_text())
    assert entry["entry_point"] == "encoder_model:CategoryEncoder"


def test_a_class_defined_in_main_is_refused_with_advice_to_move_it(tmp_path):
    script_class = type(
        "ScriptModel",
        (),
        {
            "__module__": "__main__",
            "predict": lambda self, inputs: inputs,
            "save": lambda self, path: None,
            "load": classmethod(lambda cls, path: cls()),
        },
    )
    with pytest.raises(UnsupportedModelError, match="move the class into a module"):
        PythonRuntime().save(script_class(), tmp_path)


def test_loading_fails_clearly_when_the_entry_point_module_is_not_installed(tmp_path):
    entry = {"entry_point": "not_installed_pkg.models:Encoder", "data_dir": "."}
    (tmp_path / ENTRY_FILE).write_text(json.dumps(entry))
    with pytest.raises(RuntimeLoadError, match=r"not_installed_pkg\.models"):
        PythonRuntime().load(tmp_path, LoadOptions())


def test_adopt_copies_a_folder_with_an_entry_file(encoder_module, tmp_path):
    source = tmp_path / "customer"
    source.mkdir()
    (source / "encoding.json").write_text(json.dumps(["x", "y"]))
    (source / ENTRY_FILE).write_text(json.dumps({"entry_point": "encoder_model:CategoryEncoder"}))
    dest = tmp_path / "adopted"
    dest.mkdir()
    runtime = PythonRuntime()
    runtime.adopt(source, dest)
    outputs = runtime.load(dest, LoadOptions()).predict({"category": np.array(["y", "x"])})
    np.testing.assert_array_equal(outputs["code"], [1, 0])


@pytest.mark.parametrize(
    "entry",
    [
        {"entry_point": "no colon here"},
        {"entry_point": "os:system; rm -rf"},
        {"entry_point": "pkg.mod:Cls", "data_dir": "../outside"},
        ["not", "an", "object"],
    ],
)
def test_adopt_refuses_a_malformed_entry_file(entry, tmp_path):
    source = tmp_path / "customer"
    source.mkdir()
    (source / ENTRY_FILE).write_text(json.dumps(entry))
    dest = tmp_path / "adopted"
    dest.mkdir()
    with pytest.raises(UnsupportedModelError, match=ENTRY_FILE.replace(".", r"\.")):
        PythonRuntime().adopt(source, dest)


def test_adopt_refuses_a_folder_without_an_entry_file(tmp_path):
    with pytest.raises(UnsupportedModelError, match=ENTRY_FILE):
        PythonRuntime().adopt(tmp_path, tmp_path / "dest")
