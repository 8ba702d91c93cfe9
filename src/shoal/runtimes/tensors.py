"""Conversions between named input tensors and the matrices or frames tabular models expect.

Pandas is imported only by :func:`to_frame` (and recognised in :func:`as_tensors` only when it is
already loaded), so importing this module stays cheap.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from shoal.errors import ValidationError
from shoal.runtimes.base import Tensors

if TYPE_CHECKING:
    import pandas as pd

DEFAULT_INPUT_NAME = "input"
"""The tensor name a bare array is given."""


def as_tensors(x: object) -> dict[str, NDArray[np.generic]]:
    """Name the parts of ``x``: an array becomes ``{"input": x}``, a DataFrame one entry per column.

    A mapping keeps its names; its values become arrays.
    """
    if isinstance(x, np.ndarray):
        return {DEFAULT_INPUT_NAME: x}
    if isinstance(x, Mapping):
        return {str(name): np.asarray(value) for name, value in x.items()}
    # A DataFrame can only exist if pandas is already imported; never import it just to check.
    pandas = sys.modules.get("pandas")
    if pandas is not None and isinstance(x, pandas.DataFrame):
        return {str(name): x[name].to_numpy() for name in x.columns}
    if isinstance(x, list | tuple):
        return {DEFAULT_INPUT_NAME: np.asarray(x)}
    raise ValidationError(
        f"cannot turn a {type(x).__name__} into named tensors; "
        "pass a numpy array, a pandas DataFrame or a mapping of name to array"
    )


def _columns(
    inputs: Tensors, feature_names: Sequence[str] | None
) -> list[tuple[str, NDArray[np.generic]]]:
    """The 1-D column tensors in model order; extra columns the model does not use are ignored."""
    for name, tensor in inputs.items():
        if tensor.ndim != 1:
            raise ValidationError(
                f"input {name!r} has rank {tensor.ndim}; send one 2-D tensor (rows x features) "
                "or one 1-D tensor per feature column"
            )
    if feature_names is None:
        columns = list(inputs.items())
    else:
        missing = [name for name in feature_names if name not in inputs]
        if missing:
            raise ValidationError(
                f"missing input column(s) {missing}; the model expects {list(feature_names)}, "
                f"got {sorted(inputs)}"
            )
        columns = [(name, inputs[name]) for name in feature_names]
    lengths = {len(tensor) for _, tensor in columns}
    if len(lengths) > 1:
        sizes = {name: len(tensor) for name, tensor in columns}
        raise ValidationError(f"input columns have different lengths: {sizes}")
    return columns


def _single_matrix(
    inputs: Tensors, feature_names: Sequence[str] | None
) -> NDArray[np.generic] | None:
    """The one 2-D tensor of ``inputs``, checked against the feature count; None for columns."""
    if len(inputs) != 1:
        return None
    ((name, tensor),) = inputs.items()
    if tensor.ndim == 1:
        return None  # a lone column; the column path checks its name against the features
    if tensor.ndim != 2:
        raise ValidationError(
            f"input {name!r} has rank {tensor.ndim}; send one 2-D tensor (rows x features) "
            "or one 1-D tensor per feature column"
        )
    if feature_names is not None and tensor.shape[1] != len(feature_names):
        raise ValidationError(
            f"input {name!r} has {tensor.shape[1]} columns; the model expects "
            f"{len(feature_names)}: {list(feature_names)}"
        )
    return tensor


def to_matrix(inputs: Tensors, feature_names: Sequence[str] | None = None) -> NDArray[np.generic]:
    """One 2-D array from either a single 2-D tensor or 1-D column tensors.

    Columns are ordered by ``feature_names`` when given (else by input order); a missing column
    or a tensor of the wrong rank raises :class:`ValidationError`.
    """
    if not inputs:
        raise ValidationError("no input tensors given")
    matrix = _single_matrix(inputs, feature_names)
    if matrix is not None:
        return matrix
    return np.column_stack([tensor for _, tensor in _columns(inputs, feature_names)])


def to_frame(inputs: Tensors, feature_names: Sequence[str]) -> pd.DataFrame:
    """Like :func:`to_matrix`, but a DataFrame whose columns carry the model's feature names.

    Models fitted on named columns warn (sklearn) or may reorder when given a bare array, and
    column-wise frames keep each column's own dtype (a string category next to floats).
    """
    import pandas as pd

    if not inputs:
        raise ValidationError("no input tensors given")
    names = [str(name) for name in feature_names]
    matrix = _single_matrix(inputs, names)
    if matrix is not None:
        return pd.DataFrame(matrix, columns=names)
    return pd.DataFrame(dict(_columns(inputs, names)), columns=names)
