"""The ``onnx`` format: ONNX graphs run by onnxruntime on CPU, one thread per session.

A server holds many small models at once; a thread pool per session would oversubscribe the
CPUs, so every session runs single-threaded and concurrency comes from serving many requests.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from shoal.errors import RuntimeLoadError, UnsupportedModelError, ValidationError
from shoal.runtimes.base import LoadedModel, LoadOptions, Tensors
from shoal.runtimes.native_memory import measure_native
from shoal.runtimes.signature import Signature, TensorSpec
from shoal.runtimes.tensors import to_matrix

MODEL_FILE = "model.onnx"

# ONNX TensorProto element types (fixed by the ONNX spec) -> Open Inference Protocol datatypes.
_OIP_DATATYPES = {
    1: "FP32",
    2: "UINT8",
    3: "INT8",
    4: "UINT16",
    5: "INT16",
    6: "INT32",
    7: "INT64",
    8: "BYTES",
    9: "BOOL",
    10: "FP16",
    11: "FP64",
    12: "UINT32",
    13: "UINT64",
    16: "BF16",
}
# onnxruntime's input type strings -> the numpy dtype to cast caller tensors to.
_NUMPY_DTYPES: dict[str, type[np.generic]] = {
    "tensor(float)": np.float32,
    "tensor(double)": np.float64,
    "tensor(float16)": np.float16,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
    "tensor(int16)": np.int16,
    "tensor(int8)": np.int8,
    "tensor(uint64)": np.uint64,
    "tensor(uint32)": np.uint32,
    "tensor(uint16)": np.uint16,
    "tensor(uint8)": np.uint8,
    "tensor(bool)": np.bool_,
    "tensor(string)": np.object_,
}


class _NodeArg(Protocol):
    name: str
    type: str


class _Session(Protocol):
    def get_inputs(self) -> Sequence[_NodeArg]: ...

    def get_outputs(self) -> Sequence[_NodeArg]: ...

    def run(self, output_names: None, feed: Mapping[str, object]) -> list[object]: ...


def _output_array(value: object) -> NDArray[np.generic]:
    """An ORT output as an array; ZipMap's list of {label: probability} becomes a 2-D array."""
    if isinstance(value, list) and value and isinstance(value[0], Mapping):
        labels = list(value[0])
        return np.asarray([[row[label] for label in labels] for row in value], dtype=np.float32)
    return np.asarray(value)


class OnnxModel:
    """An onnxruntime session fed by input name."""

    def __init__(self, session: _Session, path: Path, native_bytes: int = 0) -> None:
        self._session = session
        self._native_bytes = native_bytes
        self._inputs = [(arg.name, _NUMPY_DTYPES.get(arg.type)) for arg in session.get_inputs()]
        self._output_names = [arg.name for arg in session.get_outputs()]
        self._path = path

    def native_bytes(self) -> int:
        """The native heap the session took when it was created (see ``native_memory``)."""
        return self._native_bytes

    def _feed(self, inputs: Tensors) -> dict[str, NDArray[np.generic]]:
        if len(self._inputs) == 1 and self._inputs[0][0] not in inputs:
            # One graph input but the caller named it differently (``input``) or sent columns:
            # there is only one sensible place for the data.
            name, dtype = self._inputs[0]
            tensor = to_matrix(inputs) if len(inputs) > 1 else next(iter(inputs.values()))
            return {name: np.asarray(tensor, dtype=dtype)}
        missing = [name for name, _ in self._inputs if name not in inputs]
        if missing:
            raise ValidationError(
                f"onnx: missing input(s) {missing}; the model takes "
                f"{[name for name, _ in self._inputs]}, got {sorted(inputs)}"
            )
        return {name: np.asarray(inputs[name], dtype=dtype) for name, dtype in self._inputs}

    def predict(self, inputs: Tensors) -> dict[str, NDArray[np.generic]]:
        if not inputs:
            raise ValidationError("no input tensors given")
        try:
            feed = self._feed(inputs)
        except (TypeError, ValueError) as exc:
            raise ValidationError(f"onnx: cannot convert the inputs: {exc}") from exc
        try:
            values = self._session.run(None, feed)
        except Exception as exc:
            raise ValidationError(f"onnx: inference failed for {self._path}: {exc}") from exc
        return {
            name: _output_array(value)
            for name, value in zip(self._output_names, values, strict=True)
        }


def _open_session(file: Path) -> _Session:
    return open_session(file)[0]


def open_session(file: Path) -> tuple[_Session, int]:
    """A session tuned for serving many small models, and the native bytes it holds.

    One intra/inter-op thread: the server runs predictions on its own threads, and a thread pool
    per session would multiply threads by models. No memory arena or memory-pattern planning:
    each would keep per-session buffers sized for the largest batch seen, which a server with
    thousands of mostly single-row models cannot afford. Basic graph optimisations only: the
    extended ones keep extra copies of small graphs and bought nothing measurable for the models
    served here (both together: ~100 -> ~70 KB a session for a logistic regression).
    """
    import onnxruntime

    session_options = onnxruntime.SessionOptions()
    session_options.intra_op_num_threads = 1
    session_options.inter_op_num_threads = 1
    session_options.enable_cpu_mem_arena = False
    session_options.enable_mem_pattern = False
    session_options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_BASIC

    def create() -> _Session:
        session: _Session = onnxruntime.InferenceSession(
            str(file), sess_options=session_options, providers=["CPUExecutionProvider"]
        )
        return session

    try:
        return measure_native(create, fallback=file.stat().st_size * 6)
    except Exception as exc:
        raise RuntimeLoadError(f"onnx: cannot load {file}: {exc}") from exc


class OnnxRuntime:
    """Save, adopt and load ONNX models."""

    name = "onnx"
    file_suffixes: tuple[str, ...] = (".onnx",)

    def can_save(self, obj: object) -> bool:
        cls = type(obj)
        return cls.__module__.split(".", 1)[0] == "onnx" and cls.__name__ == "ModelProto"

    def save(self, obj: object, dest: Path) -> None:
        import onnx

        if not self.can_save(obj):
            raise UnsupportedModelError(f"onnx: a {type(obj).__name__} is not an onnx.ModelProto")
        try:
            onnx.save_model(obj, str(dest / MODEL_FILE))  # type: ignore[arg-type]  # checked
        except Exception as exc:
            raise RuntimeLoadError(f"onnx: cannot save to {dest}: {exc}") from exc

    def adopt(self, source: Path, dest: Path) -> None:
        if not source.is_file() or source.suffix not in self.file_suffixes:
            raise UnsupportedModelError(f"onnx: {source} is not an .onnx file")
        try:
            _open_session(source)  # the strictest check there is: onnxruntime accepts it
        except RuntimeLoadError as exc:
            raise UnsupportedModelError(f"onnx: cannot adopt {source}: {exc}") from exc
        shutil.copyfile(source, dest / MODEL_FILE)

    def warm_up(self) -> None:
        """Import onnxruntime now, so a server's first request does not pay for it."""
        import onnxruntime  # noqa: F401

    def load(self, path: Path, options: LoadOptions) -> LoadedModel:
        session, native = open_session(path / MODEL_FILE)
        return OnnxModel(session, path, native)


class _ValueInfo(Protocol):
    name: str
    type: object


def _spec(value: _ValueInfo) -> TensorSpec:
    kind = getattr(value.type, "WhichOneof")("value")  # noqa: B009 - protobuf oneof
    if kind == "tensor_type":
        tensor = getattr(value.type, "tensor_type")  # noqa: B009
        datatype = _OIP_DATATYPES.get(tensor.elem_type, "BYTES")
        dims = tensor.shape.dim if tensor.HasField("shape") else ()
        shape = tuple(dim.dim_value if dim.HasField("dim_value") else -1 for dim in dims)
        return TensorSpec(value.name, datatype, shape)
    # ZipMap (sequence of maps) reaches callers as a rows x classes float matrix; see predict.
    return TensorSpec(value.name, "FP32", (-1, -1))


def onnx_signature(path: Path) -> Signature:
    """The inputs and outputs an ONNX file declares (``path`` is the file or its artifact dir).

    Unknown dimensions read as -1. Graph inputs that are initializers (weights listed as inputs
    by older exporters) are not real inputs and are left out.
    """
    import onnx

    file = path / MODEL_FILE if path.is_dir() else path
    try:
        model = onnx.load(str(file), load_external_data=False)
    except Exception as exc:
        raise UnsupportedModelError(f"onnx: {file} is not a readable ONNX model: {exc}") from exc
    weights = {init.name for init in model.graph.initializer}
    return Signature(
        inputs=tuple(_spec(v) for v in model.graph.input if v.name not in weights),
        outputs=tuple(_spec(v) for v in model.graph.output),
    )
