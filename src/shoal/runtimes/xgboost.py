"""The ``xgboost`` format: XGBoost models in XGBoost's native UBJSON format plus a manifest.

sklearn wrappers are saved with their own ``save_model``, which stores the wrapper's metadata in
the booster, and reloaded into the same wrapper class, so predictions follow exactly the code
path of the original (best iteration, label decoding, probability layout).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from shoal.errors import RuntimeLoadError, UnsupportedModelError, ValidationError
from shoal.runtimes.base import LoadedModel, LoadOptions, Tensors
from shoal.runtimes.dependencies import require
from shoal.runtimes.manifest import labels_to_json, names_field, read_manifest, write_manifest
from shoal.runtimes.tensors import to_frame, to_matrix

MODEL_FILE = "model.ubj"
_KINDS = {
    "XGBClassifier": "classifier",
    "XGBRegressor": "regressor",
    "XGBRanker": "ranker",
    "Booster": "booster",
}
_WRAPPERS = {"classifier": "XGBClassifier", "regressor": "XGBRegressor", "ranker": "XGBRanker"}


class _Predictor(Protocol):
    def predict(self, data: object) -> NDArray[np.generic]: ...


def _kind_of(obj: object) -> str | None:
    """The kind of an XGBoost object from its class names (subclasses too) without imports."""
    for cls in type(obj).__mro__:
        if cls.__module__.split(".", 1)[0] == "xgboost" and cls.__name__ in _KINDS:
            return _KINDS[cls.__name__]
    return None


class XGBoostModel:
    """A loaded XGBoost booster or sklearn wrapper with Shoal's output names."""

    def __init__(
        self, model: _Predictor, kind: str, feature_names: list[str] | None, path: Path
    ) -> None:
        self._model = model
        self._kind = kind
        self._feature_names = feature_names
        self._path = path

    def _call(self, method: str, features: object) -> NDArray[np.generic]:
        try:
            return np.asarray(getattr(self._model, method)(features))
        except Exception as exc:
            raise ValidationError(f"xgboost: {method} failed for {self._path}: {exc}") from exc

    def predict(self, inputs: Tensors) -> dict[str, NDArray[np.generic]]:
        names = self._feature_names
        features: object = to_matrix(inputs) if names is None else to_frame(inputs, names)
        if self._kind == "booster":
            xgboost = require("xgboost")
            features = xgboost.DMatrix(features)
        if self._kind == "classifier":
            return {
                "label": self._call("predict", features),
                "probabilities": self._call("predict_proba", features),
            }
        return {"prediction": self._call("predict", features)}


class XGBoostRuntime:
    """Save, adopt and load XGBoost boosters and their sklearn wrappers."""

    name = "xgboost"
    file_suffixes: tuple[str, ...] = (".ubj", ".xgb")
    adoptable_suffixes: tuple[str, ...] = (".ubj", ".xgb", ".json")
    """``.json`` is too generic to recognise automatically, but adopts when asked by name."""

    def can_save(self, obj: object) -> bool:
        return _kind_of(obj) is not None

    def save(self, obj: object, dest: Path) -> None:
        kind = _kind_of(obj)
        if kind is None:
            raise UnsupportedModelError(f"xgboost: a {type(obj).__name__} is not an XGBoost model")
        require("xgboost")
        try:
            getattr(obj, "save_model")(str(dest / MODEL_FILE))  # noqa: B009 - typed as object
        except Exception as exc:
            raise RuntimeLoadError(f"xgboost: cannot save to {dest}: {exc}") from exc
        classes = getattr(obj, "classes_", None) if kind == "classifier" else None
        booster = obj if kind == "booster" else getattr(obj, "get_booster")()  # noqa: B009
        self._write_manifest(dest, kind, booster, classes)

    def adopt(self, source: Path, dest: Path) -> None:
        if not source.is_file() or source.suffix not in self.adoptable_suffixes:
            raise UnsupportedModelError(
                f"xgboost: {source} is not an XGBoost model file (.ubj, .xgb or .json)"
            )
        xgboost = require("xgboost")
        try:
            booster = xgboost.Booster(model_file=str(source))
            # Re-saving as UBJSON normalises .json/.xgb files; it is lossless.
            booster.save_model(str(dest / MODEL_FILE))
        except Exception as exc:
            raise UnsupportedModelError(f"xgboost: cannot adopt {source}: {exc}") from exc
        # A file saved from a sklearn wrapper says which wrapper; serve it through that wrapper.
        meta = json.loads(booster.attr("scikit_learn") or "{}")
        kind = str(meta.get("_estimator_type", "booster"))
        self._write_manifest(dest, kind if kind in _WRAPPERS else "booster", booster, None)

    def load(self, path: Path, options: LoadOptions) -> LoadedModel:
        xgboost = require("xgboost")
        manifest = read_manifest(path, self.name)
        kind = str(manifest.get("kind", "booster"))
        file = str(path / MODEL_FILE)
        try:
            if kind in _WRAPPERS:
                model = getattr(xgboost, _WRAPPERS[kind])()
                model.load_model(file)
                booster = model.get_booster()
            else:
                kind = "booster"
                model = booster = xgboost.Booster(model_file=file)
        except Exception as exc:
            raise RuntimeLoadError(f"xgboost: cannot load {file}: {exc}") from exc
        feature_names = booster.feature_names
        expected = names_field(manifest.get("feature_names"))
        if expected is not None and expected != feature_names:
            raise RuntimeLoadError(f"xgboost: {path}: manifest and model disagree on features")
        return XGBoostModel(model, kind, feature_names, path)

    def _write_manifest(
        self, dest: Path, kind: str, booster: object, classes: object | None
    ) -> None:
        names = getattr(booster, "feature_names", None)
        write_manifest(
            dest,
            {
                "format": self.name,
                "kind": kind,
                "classes": None if classes is None else labels_to_json(np.asarray(classes)),
                "feature_names": None if names is None else [str(name) for name in names],
            },
        )
