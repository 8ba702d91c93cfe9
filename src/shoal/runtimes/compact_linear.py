"""Linear models as their coefficient arrays: ~1 KB where an onnxruntime session holds ~60 KB.

``LogisticRegression`` and the linear regressors (``LinearRegression``, ``Ridge``, ``Lasso``,
``ElasticNet``) predict ``x @ coef.T + intercept``; the compact form stores ``coef_``,
``intercept_`` (and ``classes_``) and computes what scikit-learn computes, with the same NumPy
operations on the same dtypes: labels from the sign of the score (binary) or its largest class,
probabilities through SciPy's logistic function (binary) or sklearn's softmax (multinomial).
The outputs are sklearn's bits except where BLAS rounds a dot product differently by the memory
alignment of its operands, which moves sklearn's own results between two loads of a model by an
ulp as well.
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
    # sklearn's coef_ may be a view into a wider array (LogisticRegression keeps the intercept
    # beside it); numpy multiplies such a strided matrix without BLAS, so the same layout is
    # rebuilt at load to round the same way.
    arrays["layout"] = np.asarray(_layout_of(coef), dtype=np.int64)
    classifier = type(model).__name__ in _CLASSIFIERS
    if classifier:
        arrays["classes"] = numeric_classes(model)
    arrays["params"] = np.asarray([columns, classifier], dtype=np.float64)
    return arrays


def _layout_of(coef: NDArray[np.float64]) -> tuple[int, int]:
    """(elements between rows, Fortran order): how ``coef`` lies in memory."""
    if coef.ndim != 2 or coef.shape[0] == 1 or coef.flags.c_contiguous:
        return coef.shape[-1], 0
    if coef.flags.f_contiguous:
        return coef.shape[-1], 1
    if coef.strides[1] == coef.itemsize and coef.strides[0] % coef.itemsize == 0:
        return coef.strides[0] // coef.itemsize, 0  # rows of a wider C-ordered array
    return coef.shape[-1], 0


def _as_sklearn_lays_it_out(coef: NDArray[np.float64], arrays: Arrays) -> NDArray[np.float64]:
    """A fresh copy of ``coef`` in the memory layout sklearn's had (see ``compile_linear``):
    numpy picks BLAS or its own loop by layout, and BLAS rounds by operand alignment."""
    stride, fortran = (int(v) for v in arrays["layout"]) if "layout" in arrays else (0, 0)
    if coef.ndim != 2:
        return np.array(coef)
    if fortran:
        return np.asfortranarray(coef)
    if stride <= coef.shape[1]:
        return np.array(coef)
    wider = np.zeros((coef.shape[0], stride))
    wider[:, : coef.shape[1]] = coef
    return wider[:, : coef.shape[1]]


class CompactLinear(CompactModel):
    """A loaded compact linear model; outputs like the sklearn runtime's."""

    def __init__(self, arrays: Arrays, feature_names: Sequence[str] | None = None) -> None:
        super().__init__(feature_names)
        columns, classifier = (float(v) for v in arrays["params"])
        coef = _as_sklearn_lays_it_out(np.asarray(arrays["coef"], dtype=np.float64), arrays)
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
