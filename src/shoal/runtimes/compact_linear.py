"""Linear models as their coefficient arrays: ~1 KB where an onnxruntime session holds ~60 KB.

``LogisticRegression`` and the linear regressors (``LinearRegression``, ``Ridge``, ``Lasso``,
``ElasticNet``) predict ``x @ coef.T + intercept``; the compact form stores ``coef_``,
``intercept_`` (and ``classes_``) and computes exactly what scikit-learn computes, with the same
NumPy operations on the same dtypes, so the outputs are the same bits: labels from the sign of
the score (binary) or its largest class, probabilities through SciPy's logistic function
(binary) or sklearn's softmax (multinomial).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from shoal.runtimes.compact_common import (
    Arrays,
    CompactModel,
    expit,
    finite_matrix,
    numeric_classes,
    softmax,
)

FILE = "compact_linear.npz"
_CLASSIFIERS = frozenset({"LogisticRegression"})
_REGRESSORS = frozenset({"LinearRegression", "Ridge", "Lasso", "ElasticNet"})


def is_linear_model(model: object) -> bool:
    cls = type(model)
    return cls.__name__ in _CLASSIFIERS | _REGRESSORS and cls.__module__.startswith("sklearn.")


def compile_linear(model: object, columns: int) -> Arrays:
    """The arrays of a fitted linear model; ValueError if it has no compact form."""
    coef = np.asarray(model.coef_)  # type: ignore[attr-defined]
    if coef.dtype != np.float64 or coef.shape[-1] != columns:
        raise ValueError(f"coefficients of dtype {coef.dtype} and shape {coef.shape}")
    arrays: Arrays = {
        "coef": coef,
        "intercept": np.asarray(model.intercept_, dtype=np.float64),  # type: ignore[attr-defined]
    }
    classifier = type(model).__name__ in _CLASSIFIERS
    if classifier:
        arrays["classes"] = numeric_classes(model)
    arrays["params"] = np.asarray([columns, classifier], dtype=np.float64)
    return arrays


class CompactLinear(CompactModel):
    """A loaded compact linear model; outputs like the sklearn runtime's."""

    def __init__(self, arrays: Arrays, feature_names: Sequence[str] | None = None) -> None:
        super().__init__(feature_names)
        columns, classifier = (float(v) for v in arrays["params"])
        coef = np.asarray(arrays["coef"], dtype=np.float64)
        self._coef_t = coef.T if coef.ndim == 2 else coef  # sklearn multiplies by coef_.T
        self._intercept = np.asarray(arrays["intercept"], dtype=np.float64)
        if self._intercept.ndim == 0:
            self._intercept = self._intercept[()]  # a scalar, as sklearn's intercept_ is
        self._columns = int(columns)
        self._classes = arrays["classes"] if classifier else None

    def scores(self, matrix: NDArray[np.generic]) -> NDArray[np.float64]:
        """sklearn's decision function (for regressors, their prediction)."""
        x = np.asarray(matrix)
        dtype = x.dtype if x.dtype in (np.float32, np.float64) else np.float64  # as sklearn
        x = finite_matrix(x, dtype, self._columns, "linear model")
        scores: NDArray[np.float64] = x @ self._coef_t + self._intercept
        if self._classes is not None and scores.ndim == 2 and scores.shape[1] == 1:
            scores = scores.reshape(-1)  # a binary classifier's one column of scores
        return scores

    def outputs(self, matrix: NDArray[np.generic]) -> dict[str, NDArray[np.generic]]:
        scores = self.scores(matrix)
        if self._classes is None:
            return {"prediction": scores}
        if scores.ndim == 1:
            label = self._classes[(scores > 0).astype(np.intp)]
            positive = expit(scores)
            probabilities = np.stack([1 - positive, positive], axis=1)
        else:
            label = self._classes[np.argmax(scores, axis=1)]
            probabilities = softmax(scores)
        return {"label": label, "probabilities": probabilities}
