"""Isolation forests as flat numpy arrays: a tenth of an onnxruntime session's memory.

An onnxruntime session of a 50-tree isolation forest holds ~1.2 MB; the same trees as flat
arrays (``compact_trees``) hold ~0.1 MB, so many times as many models fit a serving budget, and a
row is scored in tens of microseconds by walking all trees at once. The arithmetic is
sklearn's, operation for operation (so the scores are the same bits): inputs are cast to float32
and compared with the thresholds, leaves carry ``depth + c(samples) - 1``, the trees' lengths
are added in order, and the score is ``-2 ** (-total / (trees * c(max_samples))) - offset``.
The arrays are stored with ``np.savez`` and read back with ``allow_pickle=False``, so loading
runs no code.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from shoal.errors import ValidationError
from shoal.runtimes.compact_common import Arrays, CompactModel
from shoal.runtimes.compact_trees import TreeWalker, flatten, layout


def _average_path_length(n: int) -> float:
    # sklearn.ensemble._iforest._average_path_length for one value
    if n <= 1:
        return 0.0
    if n == 2:
        return 1.0
    return 2.0 * (math.log(n - 1.0) + np.euler_gamma) - 2.0 * (n - 1.0) / n


def is_isolation_forest(model: object) -> bool:
    cls = type(model)
    return cls.__name__ == "IsolationForest" and cls.__module__.startswith("sklearn.")


def compile_forest(model: object, columns: int) -> Arrays:
    """Flatten a fitted sklearn IsolationForest into arrays (leaves point at themselves)."""
    forest: object = model
    subsample = getattr(forest, "_max_features", columns) != columns
    lengths = forest._decision_path_lengths  # type: ignore[attr-defined]
    averages = forest._average_path_length_per_tree  # type: ignore[attr-defined]
    estimators = forest.estimators_  # type: ignore[attr-defined]
    features = forest.estimators_features_  # type: ignore[attr-defined]
    flat, depth = flatten(
        [estimator.tree_ for estimator in estimators],
        [lengths[t] + averages[t] - 1.0 for t in range(len(estimators))],
        [np.asarray(f) for f in features] if subsample else None,
    )
    arrays = layout(flat)
    denominator = len(estimators) * _average_path_length(int(forest._max_samples))  # type: ignore[attr-defined]
    arrays["params"] = np.asarray(
        [depth, denominator, float(forest.offset_), columns],  # type: ignore[attr-defined]
        dtype=np.float64,
    )
    return arrays


class CompactForest(CompactModel):
    """A loaded compact isolation forest; predicts ``label`` (+1/-1) and ``score`` like sklearn."""

    def __init__(self, arrays: Arrays, feature_names: Sequence[str] | None = None) -> None:
        super().__init__(feature_names)
        depth, denominator, offset, columns = (float(v) for v in arrays["params"])
        self._trees = TreeWalker(arrays, int(depth))
        self._denominator = denominator
        self._offset = offset
        self._columns = int(columns)

    def scores(self, matrix: NDArray[np.generic]) -> NDArray[np.float64]:
        x = np.asarray(matrix, dtype=np.float32)  # sklearn's float32 inputs
        if x.ndim != 2 or x.shape[1] != self._columns:
            raise ValidationError(
                f"isolation forest: expected rows x {self._columns} features, got {x.shape}"
            )
        # sklearn adds the trees' path lengths one at a time, then scores 2 ** -(mean / c(n))
        depths = np.add.accumulate(
            self._trees.leaf_values[self._trees.leaves(x) - self._trees.first_leaf], axis=1
        )[:, -1]
        ratio = depths / self._denominator if self._denominator else np.ones_like(depths)
        result: NDArray[np.float64] = -(2**-ratio) - self._offset
        return result

    def outputs(self, matrix: NDArray[np.generic]) -> dict[str, NDArray[np.generic]]:
        score = self.scores(matrix)
        return {"label": np.where(score < 0, -1, 1), "score": score}
