import numpy as np
import onnx
import onnxruntime
import pytest
from onnx import TensorProto, helper
from skl2onnx import to_onnx
from sklearn.linear_model import LogisticRegression

from shoal.errors import RuntimeLoadError, UnsupportedModelError, ValidationError
from shoal.runtimes.base import LoadOptions
from shoal.runtimes.onnx import OnnxRuntime, onnx_signature
from shoal.runtimes.signature import TensorSpec


def _data():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(50, 4)).astype(np.float32)
    y = (X[:, 0] - X[:, 3] > 0).astype(np.int64)
    return X, y


def _logistic_proto(zipmap: bool):
    X, y = _data()
    model = LogisticRegression().fit(X, y)
    options = {id(model): {"zipmap": zipmap}}
    return model, to_onnx(model, X[:1], options=options, target_opset=17)


def _add_proto():
    """a + b over int64 vectors: two named inputs of unknown length."""
    graph = helper.make_graph(
        [helper.make_node("Add", ["a", "b"], ["sum"])],
        "add",
        [
            helper.make_tensor_value_info("a", TensorProto.INT64, ["n"]),
            helper.make_tensor_value_info("b", TensorProto.INT64, ["n"]),
        ],
        [helper.make_tensor_value_info("sum", TensorProto.INT64, ["n"])],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9)


def _save_and_load(proto, tmp_path):
    runtime = OnnxRuntime()
    dest = tmp_path / "artifact"
    dest.mkdir()
    runtime.save(proto, dest)
    return runtime.load(dest, LoadOptions())


@pytest.mark.parametrize("zipmap", [False, True])
def test_a_loaded_model_matches_direct_onnxruntime_inference_of_the_proto(zipmap, tmp_path):
    X, _ = _data()
    _, proto = _logistic_proto(zipmap)
    direct = onnxruntime.InferenceSession(
        proto.SerializeToString(), providers=["CPUExecutionProvider"]
    )
    expected_label, expected_probabilities = direct.run(None, {"X": X})
    outputs = _save_and_load(proto, tmp_path).predict({"X": X})
    label, probabilities = (outputs[o.name] for o in proto.graph.output)
    np.testing.assert_array_equal(label, expected_label)
    if zipmap:  # a list of {class: probability} becomes rows x classes
        expected_probabilities = [[row[0], row[1]] for row in expected_probabilities]
    np.testing.assert_array_equal(probabilities, expected_probabilities)


def test_an_skl2onnx_logistic_regression_agrees_with_sklearn(tmp_path):
    X, _ = _data()
    model, proto = _logistic_proto(zipmap=False)
    outputs = _save_and_load(proto, tmp_path).predict({"input": X})
    np.testing.assert_array_equal(outputs["label"], model.predict(X))
    np.testing.assert_allclose(outputs["probabilities"], model.predict_proba(X), atol=1e-5)


def test_inputs_are_fed_by_name_and_cast_to_the_declared_dtype(tmp_path):
    loaded = _save_and_load(_add_proto(), tmp_path)
    outputs = loaded.predict({"b": np.array([10.0, 20.0]), "a": np.array([1, 2], dtype=np.int32)})
    assert outputs["sum"].dtype == np.int64
    np.testing.assert_array_equal(outputs["sum"], [11, 22])


def test_a_missing_named_input_is_a_validation_error(tmp_path):
    loaded = _save_and_load(_add_proto(), tmp_path)
    with pytest.raises(ValidationError, match=r"missing input\(s\) \['b'\]"):
        loaded.predict({"a": np.array([1])})


def test_the_session_is_single_threaded(tmp_path):
    loaded = _save_and_load(_add_proto(), tmp_path)
    config = loaded._session.get_session_options()
    assert (config.intra_op_num_threads, config.inter_op_num_threads) == (1, 1)


def test_onnx_signature_reads_names_datatypes_and_shapes(tmp_path):
    _, proto = _logistic_proto(zipmap=True)
    path = tmp_path / "model.onnx"
    onnx.save_model(proto, path)
    signature = onnx_signature(path)
    assert signature.inputs == (TensorSpec("X", "FP32", (-1, 4)),)
    assert signature.outputs == (
        TensorSpec("output_label", "INT64", (-1,)),
        TensorSpec("output_probability", "FP32", (-1, -1)),
    )


def test_adopt_takes_an_onnx_file(tmp_path):
    source = tmp_path / "add.onnx"
    onnx.save_model(_add_proto(), source)
    dest = tmp_path / "adopted"
    dest.mkdir()
    runtime = OnnxRuntime()
    runtime.adopt(source, dest)
    outputs = runtime.load(dest, LoadOptions()).predict({"a": np.array([1]), "b": np.array([2])})
    np.testing.assert_array_equal(outputs["sum"], [3])
    assert onnx_signature(dest).inputs[0] == TensorSpec("a", "INT64", (-1,))


def test_adopt_refuses_a_garbage_file(tmp_path):
    source = tmp_path / "model.onnx"
    source.write_bytes(b"garbage bytes")
    dest = tmp_path / "adopted"
    dest.mkdir()
    with pytest.raises(UnsupportedModelError, match=r"model\.onnx"):
        OnnxRuntime().adopt(source, dest)


def test_loading_a_garbage_artifact_raises_runtime_load_error(tmp_path):
    (tmp_path / "model.onnx").write_bytes(b"garbage")
    with pytest.raises(RuntimeLoadError, match="onnx"):
        OnnxRuntime().load(tmp_path, LoadOptions())
