"""measure_footprint: the bytes a loaded model keeps alive, each object counted once."""

from __future__ import annotations

import numpy as np
import pytest

from shoal.serving.footprint import measure_footprint

TEN_MB = 10_000_000


class Holder:
    """A stand-in for a loaded model: a plain object with attributes."""

    def __init__(self, **attributes: object) -> None:
        self.__dict__.update(attributes)


class NativeModel:
    """A model whose memory lives outside Python, like an onnxruntime session."""

    def native_bytes(self) -> int:
        return 5_000_000


def test_an_object_holding_a_10_mb_array_measures_10_mb() -> None:
    measured = measure_footprint(Holder(weights=np.ones(TEN_MB, dtype=np.uint8)))
    assert measured == pytest.approx(TEN_MB, rel=0.01)


def test_two_references_to_one_array_count_it_once() -> None:
    weights = np.ones(TEN_MB, dtype=np.uint8)
    once = measure_footprint(Holder(a=weights))
    twice = measure_footprint(Holder(a=weights, b=weights, c=[weights, weights]))
    assert twice == pytest.approx(once, rel=0.01)
    assert twice < 1.5 * TEN_MB


def test_a_view_counts_its_owners_buffer_once() -> None:
    weights = np.ones(TEN_MB, dtype=np.uint8)
    only_view = measure_footprint(Holder(view=weights[10:]))
    view_and_owner = measure_footprint(Holder(view=weights[10:], owner=weights))
    assert only_view == pytest.approx(TEN_MB, rel=0.01)
    assert view_and_owner == pytest.approx(TEN_MB, rel=0.01)


def test_object_arrays_count_the_objects_they_hold() -> None:
    parts = np.empty(2, dtype=object)
    parts[0] = np.ones(TEN_MB // 2, dtype=np.uint8)
    parts[1] = np.ones(TEN_MB // 2, dtype=np.uint8)
    assert measure_footprint(Holder(parts=parts)) == pytest.approx(TEN_MB, rel=0.01)


def test_native_bytes_are_added_for_the_model_and_for_a_wrapped_model() -> None:
    assert measure_footprint(NativeModel()) >= 5_000_000
    assert measure_footprint(Holder(session=NativeModel())) == pytest.approx(5_000_000, rel=0.01)


def test_modules_classes_and_functions_are_not_charged_to_the_model() -> None:
    measured = measure_footprint(Holder(module=np, cls=np.ndarray, function=measure_footprint))
    assert measured < 10_000


def test_cycles_and_containers_are_walked_once() -> None:
    ring: list[object] = [np.ones(1_000_000, dtype=np.uint8)]
    ring.append(ring)
    assert measure_footprint({"ring": ring, "again": ring}) == pytest.approx(1_000_000, rel=0.01)


def test_scikit_learn_trees_count_their_nodes_held_in_c_arrays() -> None:
    ensemble = pytest.importorskip("sklearn.ensemble")
    datasets = pytest.importorskip("sklearn.datasets")
    features, labels = datasets.make_classification(n_samples=300, random_state=0)
    model = ensemble.GradientBoostingClassifier(n_estimators=100, random_state=0)
    model.fit(features, labels)
    node_bytes = sum(tree.tree_.capacity * 64 for tree in model.estimators_.ravel())
    assert measure_footprint(model) >= node_bytes
