"""What the compact fast paths share: their base class, and sklearn's arithmetic, bit for bit.

:class:`CompactModel` is a model held as a few NumPy arrays (``compact.py`` lists the forms): it
reads its request with the model's feature names and keeps nothing outside the arrays, which the
footprint walk counts. The arithmetic:

* :func:`expit` is SciPy's logistic function, ``1 / (1 + exp(-x))`` with the C library's
  ``exp`` (``math.exp``; NumPy's vectorised ``exp`` differs from it in the last bit for ~2 % of
  inputs), without importing SciPy (~28 MiB and ~170 ms) into a serving process;
* :func:`softmax` is ``sklearn.utils.extmath.softmax`` (NumPy's ``exp``, as sklearn does);
* :func:`finite_matrix` checks inputs the way sklearn's validation does for models that refuse
  NaN and infinity, with a message that says which.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import DTypeLike, NDArray

from shoal.errors import ValidationError
from shoal.runtimes.base import Tensors
from shoal.runtimes.tensors import to_matrix

Arrays = dict[str, NDArray[np.generic]]


class CompactModel:
    """Base of the compact models: ``outputs(matrix)`` is all a form writes."""

    row_seconds_hint = 100e-6
    """What one row costs at most (single rows take 3-60 µs): lets the server run a compact
    model's first prediction on the event loop instead of handing it to a thread."""

    def __init__(self, feature_names: Sequence[str] | None = None) -> None:
        self._feature_names = None if feature_names is None else list(feature_names)

    def outputs(self, matrix: NDArray[np.generic]) -> dict[str, NDArray[np.generic]]:
        raise NotImplementedError

    def predict(self, inputs: Tensors) -> dict[str, NDArray[np.generic]]:
        return self.outputs(to_matrix(inputs, self._feature_names))

    def native_bytes(self) -> int:
        return 0  # every byte is in NumPy arrays, which the footprint walk counts


def _expit_one(value: float) -> float:
    try:
        return 1.0 / (1.0 + math.exp(-value))
    except OverflowError:  # exp(-value) is +inf, which SciPy divides into 0
        return 0.0


def expit(values: NDArray[np.float64]) -> NDArray[np.float64]:
    """SciPy's ``expit``, element by element (the serving case is one or two values)."""
    flat = [_expit_one(v) for v in values.ravel().tolist()]
    return np.asarray(flat, dtype=np.float64).reshape(values.shape)


def softmax(scores: NDArray[np.float64]) -> NDArray[np.float64]:
    """``sklearn.utils.extmath.softmax`` of a (rows, classes) array, into a new array."""
    result: NDArray[np.float64] = scores - np.max(scores, axis=1).reshape((-1, 1))
    np.exp(result, out=result)
    result /= np.sum(result, axis=1).reshape((-1, 1))
    return result


def finite_matrix(
    matrix: NDArray[np.generic], dtype: DTypeLike, columns: int, what: str
) -> NDArray[Any]:
    """``matrix`` as ``dtype`` with ``columns`` columns and no NaN or infinity, else 400."""
    try:
        x = np.asarray(matrix, dtype=dtype)
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"{what}: cannot convert the inputs to numbers: {exc}") from exc
    if x.ndim != 2 or x.shape[1] != columns:
        raise ValidationError(f"{what}: expected rows x {columns} features, got {x.shape}")
    if not np.isfinite(x).all():
        bad = "NaN" if np.isnan(x).any() else "infinity"
        raise ValidationError(f"{what}: the input contains {bad}, which this model does not take")
    return x


def numeric_classes(model: object) -> NDArray[np.generic]:
    """A classifier's ``classes_``; ValueError when they are not numbers or booleans (string
    labels would need pickled object arrays, which compact files never hold)."""
    classes = np.asarray(model.classes_)  # type: ignore[attr-defined]
    if classes.dtype.kind not in "biuf":
        raise ValueError(f"class labels of dtype {classes.dtype} have no compact form")
    return classes
