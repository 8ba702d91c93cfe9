import numpy as np
import pandas as pd
import pytest

from shoal.errors import ValidationError
from shoal.runtimes.tensors import as_tensors, to_frame, to_matrix


def test_as_tensors_names_a_bare_array_input():
    x = np.ones((2, 3))
    assert list(as_tensors(x)) == ["input"]
    assert as_tensors(x)["input"] is x


def test_as_tensors_gives_one_tensor_per_dataframe_column():
    frame = pd.DataFrame({"a": [1.0, 2.0], "b": ["x", "y"]})
    tensors = as_tensors(frame)
    assert list(tensors) == ["a", "b"]
    np.testing.assert_array_equal(tensors["b"], np.array(["x", "y"], dtype=object))


def test_as_tensors_keeps_mapping_names_and_makes_arrays():
    tensors = as_tensors({"a": [1, 2]})
    assert isinstance(tensors["a"], np.ndarray)
    np.testing.assert_array_equal(tensors["a"], [1, 2])


def test_as_tensors_rejects_an_unknown_object():
    with pytest.raises(ValidationError, match="set"):
        as_tensors({1, 2})


def test_to_matrix_orders_column_tensors_by_feature_names():
    inputs = {"b": np.array([3.0, 4.0]), "a": np.array([1.0, 2.0]), "extra": np.zeros(2)}
    np.testing.assert_array_equal(to_matrix(inputs, ["a", "b"]), [[1.0, 3.0], [2.0, 4.0]])


def test_to_matrix_passes_a_single_two_d_tensor_through():
    x = np.arange(6.0).reshape(3, 2)
    assert to_matrix({"input": x}, ["a", "b"]) is x


@pytest.mark.parametrize(
    ("inputs", "names", "message"),
    [
        ({"a": np.zeros(2)}, ["a", "b"], "missing input column"),
        ({"input": np.zeros((2, 3))}, ["a", "b"], "has 3 columns"),
        ({"input": np.zeros((2, 2, 2))}, None, "rank 3"),
        ({"a": np.zeros(2), "b": np.zeros((2, 1))}, None, "rank 2"),
        ({"a": np.zeros(2), "b": np.zeros(3)}, None, "different lengths"),
        ({}, None, "no input"),
    ],
)
def test_to_matrix_rejects_bad_inputs_with_a_clear_message(inputs, names, message):
    with pytest.raises(ValidationError, match=message):
        to_matrix(inputs, names)


def test_to_frame_keeps_feature_names_and_column_dtypes():
    frame = to_frame({"c": np.array(["x", "y"]), "n": np.array([1.5, 2.5])}, ["n", "c"])
    assert list(frame.columns) == ["n", "c"]
    assert frame["n"].dtype == np.float64


def test_to_frame_names_the_columns_of_a_two_d_tensor():
    frame = to_frame({"input": np.eye(2)}, ["a", "b"])
    assert list(frame.columns) == ["a", "b"]
    np.testing.assert_array_equal(frame.to_numpy(), np.eye(2))
