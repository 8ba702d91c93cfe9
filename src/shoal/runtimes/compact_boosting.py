"""Gradient-boosted trees as flat numpy arrays: a tenth of an onnxruntime session's memory.

scikit-learn's ``GradientBoostingClassifier`` (log loss) and ``GradientBoostingRegressor`` of
100 trees of depth 3 hold ~300 KB as an onnxruntime session; as flat arrays (``compact_trees``)
~30 KB. The arithmetic is sklearn's, operation for operation, so the outputs are the same bits:
inputs are cast to float32, each leaf holds ``learning_rate * value`` (the product sklearn
forms at predict time), the raw score starts from the constant of the default ``init``
estimator and adds the trees stage by stage, in order; labels come from the raw score (``>= 0``,
or the largest class score) and probabilities through the logistic function or a softmax.
Models whose ``init`` is a user's estimator (its output depends on the row) take the ONNX path.
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
from shoal.runtimes.compact_trees import TreeWalker, flatten, layout

_NAMES = {"GradientBoostingClassifier": "classifier", "GradientBoostingRegressor": "regressor"}


def is_gradient_boosting(model: object) -> bool:
    cls = type(model)
    return cls.__name__ in _NAMES and cls.__module__.startswith("sklearn.")


def compile_boosting(model: object, columns: int) -> Arrays:
    """Flatten a fitted sklearn gradient-boosting model; ValueError if it has no compact form."""
    kind = _NAMES[type(model).__name__]
    init = getattr(model, "init_", None)
    if not (init == "zero" or type(init).__module__.startswith("sklearn.dummy")):
        raise ValueError("its init estimator depends on the input")
    if kind == "classifier" and getattr(model, "loss", None) != "log_loss":
        raise ValueError(f"loss {getattr(model, 'loss', None)!r} has no compact form")
    stages = np.asarray(model.estimators_)  # type: ignore[attr-defined]  # (stages, K) of trees
    rate = float(model.learning_rate)  # type: ignore[attr-defined]
    trees = [estimator.tree_ for estimator in stages.ravel()]
    flat, depth = flatten(trees, [rate * tree.value[:, 0, 0] for tree in trees])
    arrays = layout(flat)
    # The default init is a constant (the class prior or the target mean); sklearn computes it
    # for every row, in float64, before adding the trees.
    start = model._raw_predict_init(np.zeros((1, columns), dtype=np.float32))  # type: ignore[attr-defined]
    arrays["start"] = np.asarray(start[0], dtype=np.float64)
    if kind == "classifier":
        arrays["classes"] = numeric_classes(model)
    arrays["params"] = np.asarray(
        [depth, stages.shape[1], columns, kind == "classifier"], dtype=np.float64
    )
    return arrays


class CompactBoosting(CompactModel):
    """A loaded compact gradient-boosting model; outputs like the sklearn runtime's."""

    def __init__(self, arrays: Arrays, feature_names: Sequence[str] | None = None) -> None:
        super().__init__(feature_names)
        depth, per_stage, columns, classifier = (float(v) for v in arrays["params"])
        self._trees = TreeWalker(arrays, int(depth))
        self._per_stage = int(per_stage)
        self._start = np.asarray(arrays["start"], dtype=np.float64)
        self._columns = int(columns)
        self._classes = arrays["classes"] if classifier else None

    def raw(self, matrix: NDArray[np.generic]) -> NDArray[np.float64]:
        """sklearn's raw predictions, shape (rows, K): K is 1 for regression and binary."""
        x = finite_matrix(matrix, np.float32, self._columns, "gradient boosting")
        trees = self._trees
        values = trees.leaf_values[trees.leaves(x) - trees.first_leaf]
        if len(x) == 1:  # the serving case, without a row axis: (stages + 1, K) summed down
            steps = np.concatenate([self._start[None, :], values.reshape(-1, self._per_stage)])
            one: NDArray[np.float64] = np.add.accumulate(steps, axis=0)[-1:]
            return one
        # (rows, stages, K) leaf values, the init constant first, added in stage order
        per_row = values.reshape(len(x), -1, self._per_stage)
        start = np.broadcast_to(self._start, (len(x), 1, self._per_stage))
        total: NDArray[np.float64] = np.add.accumulate(
            np.concatenate([start, per_row], axis=1), axis=1
        )[:, -1, :]
        return total

    def outputs(self, matrix: NDArray[np.generic]) -> dict[str, NDArray[np.generic]]:
        raw = self.raw(matrix)
        if self._classes is None:
            return {"prediction": raw.ravel() if raw.shape[1] == 1 else raw}
        if raw.shape[1] == 1:
            score = raw[:, 0]
            label = self._classes[(score >= 0).astype(np.intp)]
            positive = expit(score)
            return {"label": label, "probabilities": np.stack([1 - positive, positive], axis=1)}
        return {"label": self._classes[np.argmax(raw, axis=1)], "probabilities": softmax(raw)}
