"""A compact ONNX graph for scikit-learn's IsolationForest: one tree-ensemble node, then the score.

skl2onnx spells each tree's path length out in many Gather nodes: converting a 50-tree forest
takes ~2 s and the session ~0.5 s to build, which a registry of thousands of models and a cache
that loads on first request cannot afford. Here every leaf's value is precomputed as sklearn
does (``depth + c(samples in leaf) - 1``), so one ``TreeEnsembleRegressor`` sums the path
lengths and a few element-wise ops turn them into ``decision_function`` and the ±1 label.

Thresholds are rounded *down* to float32: sklearn compares float32 inputs against float64
thresholds, and ``x <= t`` holds for a float32 ``x`` exactly when ``x <= float32_down(t)``.
"""

from __future__ import annotations

import math

import numpy as np

IR_VERSION = 8
OPSETS = {"": 17, "ai.onnx.ml": 3}


def is_isolation_forest(model: object) -> bool:
    return type(model).__name__ == "IsolationForest" and type(model).__module__.startswith(
        "sklearn."
    )


def _float32_down(values: np.ndarray) -> np.ndarray:
    rounded = values.astype(np.float32)
    too_big = rounded.astype(np.float64) > values
    rounded[too_big] = np.nextafter(rounded[too_big], np.float32(-np.inf))
    return rounded


def _average_path_length(n: int) -> float:
    # sklearn.ensemble._iforest._average_path_length for one value
    if n <= 1:
        return 0.0
    if n == 2:
        return 1.0
    return 2.0 * (math.log(n - 1.0) + np.euler_gamma) - 2.0 * (n - 1.0) / n


def isolation_forest_graph(model: object, columns: int) -> bytes:
    """The serialized ONNX graph: float32 ``input [n, columns]`` -> ``label`` int64, ``score``."""
    from onnx import TensorProto, helper

    forest = model
    subsample = getattr(forest, "_max_features", columns) != columns
    nodes: dict[str, list[object]] = {
        key: []
        for key in (
            "treeids",
            "nodeids",
            "featureids",
            "values",
            "modes",
            "true",
            "false",
            "missing",
        )
    }
    targets: dict[str, list[object]] = {key: [] for key in ("treeids", "nodeids", "ids", "weights")}
    lengths = forest._decision_path_lengths  # type: ignore[attr-defined]
    averages = forest._average_path_length_per_tree  # type: ignore[attr-defined]
    for t, (estimator, features) in enumerate(
        zip(forest.estimators_, forest.estimators_features_, strict=True)  # type: ignore[attr-defined]
    ):
        tree = estimator.tree_
        leaf = tree.children_left == -1
        feature = np.where(leaf, 0, tree.feature)
        if subsample:
            feature = np.asarray(features)[feature]
        count = tree.node_count
        nodes["treeids"] += [t] * count
        nodes["nodeids"] += list(range(count))
        nodes["featureids"] += [int(f) for f in feature]
        nodes["values"] += [float(v) for v in _float32_down(np.where(leaf, 0.0, tree.threshold))]
        nodes["modes"] += ["LEAF" if is_leaf else "BRANCH_LEQ" for is_leaf in leaf]
        nodes["true"] += [int(c) if c >= 0 else 0 for c in tree.children_left]
        nodes["false"] += [int(c) if c >= 0 else 0 for c in tree.children_right]
        nodes["missing"] += [0] * count
        for node in np.flatnonzero(leaf):
            targets["treeids"].append(t)
            targets["nodeids"].append(int(node))
            targets["ids"].append(0)
            targets["weights"].append(float(lengths[t][node] + averages[t][node] - 1.0))
    denominator = len(forest.estimators_) * _average_path_length(int(forest._max_samples))  # type: ignore[attr-defined]
    scale = -math.log(2.0) / denominator if denominator else 0.0
    graph_nodes = [
        helper.make_node("Cast", ["input"], ["x32"], to=TensorProto.FLOAT),
        helper.make_node(
            "TreeEnsembleRegressor",
            ["x32"],
            ["depths32"],
            domain="ai.onnx.ml",
            n_targets=1,
            aggregate_function="SUM",
            post_transform="NONE",
            nodes_treeids=nodes["treeids"],
            nodes_nodeids=nodes["nodeids"],
            nodes_featureids=nodes["featureids"],
            nodes_values=nodes["values"],
            nodes_modes=nodes["modes"],
            nodes_truenodeids=nodes["true"],
            nodes_falsenodeids=nodes["false"],
            nodes_missing_value_tracks_true=nodes["missing"],
            target_treeids=targets["treeids"],
            target_nodeids=targets["nodeids"],
            target_ids=targets["ids"],
            target_weights=targets["weights"],
        ),
        helper.make_node("Cast", ["depths32"], ["depths"], to=TensorProto.DOUBLE),
        helper.make_node("Flatten", ["depths"], ["depths2d"], axis=1),
        helper.make_node("Squeeze", ["depths2d", "axis1"], ["depth"]),
        helper.make_node("Mul", ["depth", "scale"], ["exponent"]),
        helper.make_node("Exp", ["exponent"], ["powered"]),
        helper.make_node("Neg", ["powered"], ["samples"]),
        helper.make_node("Sub", ["samples", "offset"], ["score"]),
        helper.make_node("Less", ["score", "zero"], ["outlier"]),
        helper.make_node("Where", ["outlier", "minus_one", "one"], ["label"]),
    ]
    constants = [
        helper.make_tensor("axis1", TensorProto.INT64, [1], [1]),
        helper.make_tensor("scale", TensorProto.DOUBLE, [], [scale]),
        helper.make_tensor("offset", TensorProto.DOUBLE, [], [float(forest.offset_)]),  # type: ignore[attr-defined]
        helper.make_tensor("zero", TensorProto.DOUBLE, [], [0.0]),
        helper.make_tensor("minus_one", TensorProto.INT64, [], [-1]),
        helper.make_tensor("one", TensorProto.INT64, [], [1]),
    ]
    graph = helper.make_graph(
        graph_nodes,
        "isolation_forest",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [None, columns])],
        [
            helper.make_tensor_value_info("label", TensorProto.INT64, [None]),
            helper.make_tensor_value_info("score", TensorProto.DOUBLE, [None]),
        ],
        initializer=constants,
    )
    proto = helper.make_model(
        graph, opset_imports=[helper.make_opsetid(d, v) for d, v in OPSETS.items()]
    )
    proto.ir_version = IR_VERSION
    serialized: bytes = proto.SerializeToString()
    return serialized
