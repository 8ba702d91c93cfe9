"""Predicting with any scikit-learn-API estimator: which methods to call and what to name outputs.

Shared by the sklearn runtime and the pickle runtime (which often holds sklearn-API objects).
Nothing here imports sklearn: the estimator kind is read from the object itself.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, Protocol

import numpy as np
from numpy.typing import NDArray

from shoal.errors import RuntimeLoadError, UnsupportedModelError, ValidationError
from shoal.runtimes.base import Tensors
from shoal.runtimes.tensors import to_frame, to_matrix

OutputKind = Literal["classifier", "outlier_detector", "predictor", "transformer"]


class _Tags(Protocol):
    estimator_type: str | None


def _estimator_type(estimator: object) -> str | None:
    """``classifier``/``regressor``/``outlier_detector``/... from sklearn tags (sklearn >= 1.6)."""
    tags_method: Callable[[], _Tags] | None = getattr(estimator, "__sklearn_tags__", None)
    if tags_method is not None:
        try:
            return tags_method().estimator_type
        except Exception:  # third-party estimators with broken tags: fall back to duck typing
            return None
    legacy = getattr(estimator, "_estimator_type", None)
    return legacy if isinstance(legacy, str) else None


def output_kind(estimator: object) -> OutputKind:
    """How to call ``estimator``; UnsupportedModelError if it neither predicts nor transforms.

    ``hasattr`` is the right test: sklearn hides methods a fitted estimator cannot run (an SVC
    without ``probability=True`` has no ``predict_proba``).
    """
    kind = _estimator_type(estimator)
    has = {name: hasattr(estimator, name) for name in ("predict", "predict_proba", "transform")}
    if kind == "classifier" or (has["predict"] and has["predict_proba"]):
        return "classifier"
    outlier_by_duck = (
        hasattr(estimator, "score_samples")
        and hasattr(estimator, "decision_function")
        and not has["predict_proba"]
    )
    if has["predict"] and (kind == "outlier_detector" or outlier_by_duck):
        return "outlier_detector"
    if has["predict"]:
        return "predictor"
    if has["transform"]:
        return "transformer"
    raise UnsupportedModelError(
        f"{type(estimator).__name__} has neither predict nor transform; nothing to serve"
    )


def feature_names_of(estimator: object) -> list[str] | None:
    """The column names the estimator was fitted on, if it was fitted on a DataFrame."""
    names = getattr(estimator, "feature_names_in_", None)
    return None if names is None else [str(name) for name in names]


class EstimatorModel:
    """A loaded sklearn-API estimator behind the ``LoadedModel`` protocol.

    Outputs: classifiers ``label`` (+ ``probabilities``), outlier detectors ``label`` + ``score``,
    other predictors ``prediction``, transformers ``output``.
    """

    def __init__(self, estimator: object, fmt: str) -> None:
        self._estimator = estimator
        self._format = fmt
        self._kind = output_kind(estimator)
        self._feature_names = feature_names_of(estimator)

    @property
    def estimator(self) -> object:
        return self._estimator

    def _call(self, method: str, features: object) -> NDArray[np.generic]:
        try:
            return np.asarray(getattr(self._estimator, method)(features))
        except (ValueError, TypeError) as exc:
            # Shape and dtype mistakes are the caller's; report them as bad input.
            raise ValidationError(f"{self._format}: {method} rejected the input: {exc}") from exc
        except Exception as exc:
            raise RuntimeLoadError(f"{self._format}: {method} failed: {exc}") from exc

    def predict(self, inputs: Tensors) -> dict[str, NDArray[np.generic]]:
        # A frame with the fitted names avoids sklearn's feature-name warning and keeps per-column
        # dtypes; a model fitted on an array gets the array itself, so predictions stay exact.
        features: object = (
            to_frame(inputs, self._feature_names)
            if self._feature_names is not None
            else to_matrix(inputs)
        )
        if self._kind == "classifier":
            outputs = {"label": self._call("predict", features)}
            if hasattr(self._estimator, "predict_proba"):
                outputs["probabilities"] = self._call("predict_proba", features)
            return outputs
        if self._kind == "outlier_detector":
            return {
                "label": self._call("predict", features),
                "score": self._call("decision_function", features),
            }
        if self._kind == "predictor":
            return {"prediction": self._call("predict", features)}
        return {"output": self._call("transform", features)}
