"""The ``lightgbm`` format: LightGBM boosters in LightGBM's native text format plus a manifest.

The sklearn wrappers (``LGBMClassifier``/``LGBMRegressor``/``LGBMRanker``) are saved as their
booster; the manifest keeps what the wrapper adds on top (the kind and the class labels), so a
loaded model predicts exactly what the original did without unpickling the wrapper.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Protocol, cast

import numpy as np
from numpy.typing import NDArray

from shoal.errors import RuntimeLoadError, UnsupportedModelError, ValidationError
from shoal.runtimes.base import LoadedModel, LoadOptions, Tensors
from shoal.runtimes.dependencies import require
from shoal.runtimes.manifest import (
    labels_from_json,
    labels_to_json,
    names_field,
    read_manifest,
    write_manifest,
)
from shoal.runtimes.tensors import to_matrix

MODEL_FILE = "model.lgb"
_KINDS = {
    "Booster": "booster",
    "LGBMClassifier": "classifier",
    "LGBMRegressor": "regressor",
    "LGBMRanker": "regressor",
    "LGBMModel": "regressor",
}


class _Booster(Protocol):
    def predict(self, data: NDArray[np.generic]) -> NDArray[np.generic]: ...

    def feature_name(self) -> list[str]: ...

    def save_model(self, filename: str) -> object: ...


def _kind_of(obj: object) -> str | None:
    """The kind of a LightGBM object from its class names (subclasses too) without imports."""
    for cls in type(obj).__mro__:
        if cls.__module__.split(".", 1)[0] == "lightgbm" and cls.__name__ in _KINDS:
            return _KINDS[cls.__name__]
    return None


class LightGBMModel:
    """A loaded booster with the wrapper's output conventions."""

    def __init__(
        self, booster: _Booster, kind: str, classes: NDArray[np.generic] | None, path: Path
    ) -> None:
        self._booster = booster
        self._kind = kind
        self._classes = classes
        self._feature_names = booster.feature_name()
        self._path = path

    def predict(self, inputs: Tensors) -> dict[str, NDArray[np.generic]]:
        matrix = to_matrix(inputs, self._feature_names)
        try:
            raw = np.asarray(self._booster.predict(matrix))
        except Exception as exc:
            raise ValidationError(f"lightgbm: predict failed for {self._path}: {exc}") from exc
        if self._kind != "classifier" or self._classes is None:
            return {"prediction": raw}
        # The same arithmetic as LGBMClassifier.predict_proba/predict, so results are identical.
        probabilities = raw if raw.ndim == 2 else np.vstack((1.0 - raw, raw)).transpose()
        labels = self._classes[np.argmax(probabilities, axis=1)]
        return {"label": labels, "probabilities": probabilities}


class LightGBMRuntime:
    """Save, adopt and load LightGBM boosters and their sklearn wrappers."""

    name = "lightgbm"
    file_suffixes: tuple[str, ...] = (".lgb", ".lgbm")

    def can_save(self, obj: object) -> bool:
        return _kind_of(obj) is not None

    def save(self, obj: object, dest: Path) -> None:
        kind = _kind_of(obj)
        if kind is None:
            raise UnsupportedModelError(f"lightgbm: a {type(obj).__name__} is not a LightGBM model")
        require("lightgbm")
        booster = cast(
            "_Booster | None", obj if kind == "booster" else getattr(obj, "booster_", None)
        )
        if booster is None:
            raise UnsupportedModelError(f"lightgbm: the {type(obj).__name__} is not fitted")
        try:
            booster.save_model(str(dest / MODEL_FILE))
        except Exception as exc:
            raise RuntimeLoadError(f"lightgbm: cannot save to {dest}: {exc}") from exc
        classes = getattr(obj, "classes_", None) if kind == "classifier" else None
        write_manifest(
            dest,
            {
                "format": self.name,
                "kind": kind,
                "classes": None if classes is None else labels_to_json(classes),
                "feature_names": [str(name) for name in booster.feature_name()],
            },
        )

    def adopt(self, source: Path, dest: Path) -> None:
        if not source.is_file() or source.suffix not in (*self.file_suffixes, ".txt"):
            raise UnsupportedModelError(
                f"lightgbm: {source} is not a LightGBM model file (.lgb, .lgbm or .txt)"
            )
        try:
            booster = self._read_booster(source)
        except RuntimeLoadError as exc:
            raise UnsupportedModelError(f"lightgbm: cannot adopt {source}: {exc}") from exc
        shutil.copyfile(source, dest / MODEL_FILE)
        # A bare model file does not say which labels its classes stand for: serve raw outputs.
        write_manifest(
            dest, {"format": self.name, "kind": "booster", "feature_names": booster.feature_name()}
        )

    def load(self, path: Path, options: LoadOptions) -> LoadedModel:
        manifest = read_manifest(path, self.name)
        booster = self._read_booster(path / MODEL_FILE)
        kind = str(manifest.get("kind", "booster"))
        classes = labels_from_json(manifest.get("classes"))
        expected = names_field(manifest.get("feature_names"))
        if expected is not None and expected != booster.feature_name():
            raise RuntimeLoadError(f"lightgbm: {path}: manifest and model disagree on features")
        return LightGBMModel(booster, kind, classes, path)

    def _read_booster(self, file: Path) -> _Booster:
        lightgbm = require("lightgbm")
        try:
            booster: _Booster = lightgbm.Booster(model_file=str(file))
        except Exception as exc:
            raise RuntimeLoadError(f"lightgbm: cannot load {file}: {exc}") from exc
        return booster
