"""The ONNX fast path: convert a scikit-learn model, verify it against the original, serve it.

Single-row predictions of small scikit-learn models are dominated by sklearn's per-call input
validation, so at registration the model is converted with skl2onnx, checked against the original
and, when it agrees, stored as ``fast/model.onnx`` + ``fast/fast.json`` inside the package. Loading
with ``LoadOptions(prefer_fast=True)`` then serves the graph with onnxruntime, producing the same
output names, dtypes and shapes as the sklearn runtime.

Verification runs the sample input plus ``probe_rows`` seeded rows drawn around it (a 5-row sample
rarely hits e.g. the vote ties where a float32 forest breaks a tie differently). Labels must be
equal; continuous outputs (probabilities, scores, predictions) must satisfy, in float64,
``|onnx - sklearn| <= atol + rtol * |sklearn|``. A double-precision graph is tried first (exact to
~1e-15 for linear models and pipelines of scalers); trees and isolation forests only convert in
float32, whose rounding (~1e-7 relative) the default tolerance of 1e-5 covers. Models with a
compact form (``compact.py``: isolation forests, gradient boosting, logistic and linear
regression) take it first: a few NumPy arrays computing sklearn's arithmetic bit for bit, 10-60x
smaller than an onnxruntime session; ONNX is tried when that fails. Nothing here raises for a
model that cannot take the fast path: the result says why, and serving uses skops.
"""

from __future__ import annotations

import json
import logging
import warnings
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from shoal.errors import PredictError, RuntimeLoadError, ShoalError, ValidationError
from shoal.runtimes import compact
from shoal.runtimes.base import LoadedModel, LoadOptions, Tensors
from shoal.runtimes.compact import CompactForm
from shoal.runtimes.estimators import EstimatorModel, feature_names_of, output_kind
from shoal.runtimes.tensors import to_matrix

logger = logging.getLogger(__name__)

FAST_DIR = "fast"
MODEL_FILE = "model.onnx"
META_FILE = "fast.json"
TARGET_OPSET = {"": 17, "ai.onnx.ml": 3}
"""Opsets every onnxruntime >= 1.14 runs; ai.onnx.ml 3 is the newest skl2onnx's forests accept."""
IR_VERSION = 8
"""The IR version of opset 17; onnx >= 1.23 stamps 14, which onnxruntime 1.31 refuses."""


@dataclass(frozen=True, slots=True)
class Tolerance:
    """How closely continuous outputs must agree, in float64: ``atol + rtol * |sklearn|``."""

    atol: float = 1e-5
    rtol: float = 1e-5


@dataclass(frozen=True, slots=True)
class FastOutput:
    """How one ONNX output becomes the tensor the sklearn runtime would give."""

    name: str
    onnx_name: str
    dtype: str
    trailing_shape: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class FastPathResult:
    """The outcome of :func:`convert`: the verified graph, or the reason there is none."""

    onnx_bytes: bytes | None
    reason: str
    input_dtype: str = ""
    outputs: tuple[FastOutput, ...] = ()
    feature_names: tuple[str, ...] | None = None
    tolerance: Tolerance = Tolerance()
    max_abs_diff: Mapping[str, float] = field(default_factory=dict)
    rows: int = 0

    compact: Mapping[str, NDArray[np.generic]] | None = None
    """The verified arrays of a compact form (``compact.py``) instead of a graph."""
    compact_form: CompactForm | None = None

    @property
    def available(self) -> bool:
        return self.onnx_bytes is not None or self.compact is not None

    @property
    def kind(self) -> str:
        if self.compact is not None:
            return "compact"
        return "onnx" if self.onnx_bytes is not None else "none"


class _MismatchError(Exception):
    """The graph ran but disagrees with the original model."""


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:160] if text else ''}"


def _probe(matrix: NDArray[np.float64], rows: int) -> NDArray[np.float64]:
    """Seeded rows around the sample: its column means plus noise of its column spread."""
    center = matrix.mean(axis=0)
    spread = matrix.std(axis=0)
    spread = np.where(spread > 0, spread, np.maximum(np.abs(center), 1.0))
    noise = np.random.default_rng(0).standard_normal((rows, matrix.shape[1]))
    probes: NDArray[np.float64] = center + spread * noise
    return probes


def _precisions(model: object, kind: str) -> tuple[str, ...]:
    """Graph precisions to try, best first.

    onnxruntime's tree-ensemble regressor (also inside isolation forests) has no float64 output,
    and converting a forest in float64 only to have it refused costs up to a second; tree
    classifiers are worth the try (a float64 random forest keeps sklearn's vote-tie labels).
    """
    final = model.steps[-1][1] if hasattr(model, "steps") else model  # Pipeline: its estimator
    has_trees = hasattr(final, "tree_") or hasattr(final, "estimators_")
    if has_trees and kind != "classifier":
        return ("float32",)
    return ("float64", "float32")


def _to_onnx(model: object, columns: int, precision: str) -> bytes:
    from skl2onnx import to_onnx

    example = np.zeros((1, columns), dtype=precision)
    options = {"zipmap": False} if hasattr(model, "predict_proba") else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # converter deprecation chatter, not our users' concern
        graph = to_onnx(model, example, options=options, target_opset=TARGET_OPSET)
    graph.ir_version = min(int(graph.ir_version), IR_VERSION)
    serialized: bytes = graph.SerializeToString()
    return serialized


def _session(onnx_bytes: bytes) -> object:
    import onnxruntime

    session_options = onnxruntime.SessionOptions()
    session_options.intra_op_num_threads = 1
    session_options.inter_op_num_threads = 1
    session_options.log_severity_level = 4  # a failing graph is reported as the reason, not logged
    return onnxruntime.InferenceSession(
        onnx_bytes, sess_options=session_options, providers=["CPUExecutionProvider"]
    )


def _restore(value: object, output: FastOutput) -> NDArray[np.generic]:
    array = np.asarray(value).astype(np.dtype(output.dtype), copy=False)
    if array.shape[1:] != output.trailing_shape:
        array = array.reshape((array.shape[0], *output.trailing_shape))
    return array


def _compare(
    reference: Mapping[str, NDArray[np.generic]],
    actual: Mapping[str, NDArray[np.generic]],
    tolerance: Tolerance,
) -> dict[str, float]:
    """Max abs diff per continuous output; ``_MismatchError`` where any output disagrees."""
    diffs: dict[str, float] = {}
    for name, expected in reference.items():
        got = actual[name]
        if name == "label" or expected.dtype.kind not in "fc":
            wrong = int(np.count_nonzero(got != expected))
            if wrong:
                raise _MismatchError(f"{name} differs on {wrong} of {len(expected)} rows")
            continue
        want = expected.astype(np.float64)
        diff = np.abs(got.astype(np.float64) - want)
        diffs[name] = float(np.nanmax(diff)) if diff.size else 0.0
        bound = tolerance.atol + tolerance.rtol * np.abs(want)
        if not np.all((diff <= bound) | (np.isnan(want) & np.isnan(got.astype(np.float64)))):
            raise _MismatchError(
                f"{name} differs by up to {diffs[name]:.3g} "
                f"(tolerance atol={tolerance.atol:g}, rtol={tolerance.rtol:g})"
            )
    return diffs


def _verify(
    model: object, rows: NDArray[np.float64], precision: str, tolerance: Tolerance
) -> FastPathResult:
    reference = EstimatorModel(model, "sklearn").predict({"input": rows})
    onnx_bytes = _to_onnx(model, rows.shape[1], precision)
    session = _session(onnx_bytes)
    graph_inputs = session.get_inputs()  # type: ignore[attr-defined]
    graph_outputs = [arg.name for arg in session.get_outputs()]  # type: ignore[attr-defined]
    if len(graph_inputs) != 1 or len(graph_outputs) < len(reference):
        raise _MismatchError(f"the graph has outputs {graph_outputs}; expected {list(reference)}")
    values = session.run(None, {graph_inputs[0].name: rows.astype(precision)})  # type: ignore[attr-defined]
    outputs = tuple(
        FastOutput(name, onnx_name, expected.dtype.str, tuple(expected.shape[1:]))
        for (name, expected), onnx_name in zip(reference.items(), graph_outputs, strict=False)
    )
    by_name = dict(zip(graph_outputs, values, strict=True))
    actual = {out.name: _restore(by_name[out.onnx_name], out) for out in outputs}
    diffs = _compare(reference, actual, tolerance)
    names = feature_names_of(model)
    return FastPathResult(
        onnx_bytes=onnx_bytes,
        reason=f"verified on {len(rows)} rows ({precision} graph)",
        input_dtype=precision,
        outputs=outputs,
        feature_names=None if names is None else tuple(names),
        tolerance=tolerance,
        max_abs_diff=diffs,
        rows=len(rows),
    )


def _verify_compact(
    form: CompactForm, model: object, rows: NDArray[np.float64], tolerance: Tolerance
) -> FastPathResult:
    """The model as ``form``'s arrays, checked against the original on ``rows``."""
    names = feature_names_of(model)
    try:
        reference = EstimatorModel(model, "sklearn").predict({"input": rows})
        arrays = form.compile(model, rows.shape[1])
        diffs = _compare(reference, form.model(arrays, None).predict({"input": rows}), tolerance)
    except _MismatchError as exc:
        return FastPathResult(None, f"compact {form.name} disagrees with the original: {exc}")
    except Exception as exc:  # any failure just means no compact form
        return FastPathResult(None, f"no compact {form.name}: {_short(exc)}")
    return FastPathResult(
        onnx_bytes=None,
        reason=f"verified on {len(rows)} rows (compact {form.name})",
        feature_names=None if names is None else tuple(names),
        tolerance=tolerance,
        max_abs_diff=diffs,
        rows=len(rows),
        compact=arrays,
        compact_form=form,
    )


def convert(
    model: object,
    sample: Tensors,
    *,
    tolerance: Tolerance = Tolerance(),
    probe_rows: int = 256,
    compact_forms: bool = True,
) -> FastPathResult:
    """Convert ``model`` and verify it on ``sample`` (+ probe rows); never raises.

    A compact form comes first when the model has one (``compact_forms=False`` skips it, to
    compare with ONNX); then a float64 graph, then a float32 one (see ``_precisions``): the first
    that converts, runs and agrees wins.
    A graph that runs but disagrees is refused outright (float32 would only round more).
    """
    try:
        kind = output_kind(model)
        if kind == "transformer":
            return FastPathResult(None, "transformers have no fast path")
        matrix = to_matrix(sample, feature_names_of(model))
        if matrix.ndim != 2 or matrix.dtype.kind not in "biuf" or matrix.size == 0:
            return FastPathResult(None, "the fast path needs a non-empty numeric 2-D input")
        numeric = matrix.astype(np.float64)
        rows = np.vstack([numeric, _probe(numeric, probe_rows)]) if probe_rows else numeric
        import skl2onnx  # noqa: F401 - a clear reason when the converter is missing
    except (ShoalError, ImportError, ValueError, TypeError) as exc:
        return FastPathResult(None, _short(exc))
    first = ""
    form = compact.form_of(model) if compact_forms else None
    if form is not None:
        result = _verify_compact(form, model, rows, tolerance)
        if result.available:
            return result
        first = f"{result.reason}; "
    reason = ""
    for precision in _precisions(model, kind):
        try:
            return _verify(model, rows, precision, tolerance)
        except _MismatchError as exc:
            return FastPathResult(None, f"{first}disagrees with the original: {exc}")
        except Exception as exc:  # any converter/runtime failure just means no fast path
            reason = f"cannot convert: {_short(exc)}"
            logger.debug("fast path: %s graph of %s: %s", precision, type(model).__name__, exc)
    return FastPathResult(None, first + reason)


def write(folder: Path, result: FastPathResult) -> None:
    """Store a verified result as ``folder/fast/model.onnx`` and ``folder/fast/fast.json``."""
    if not result.available:
        raise ValueError(f"no fast path to write: {result.reason}")
    target = folder / FAST_DIR
    target.mkdir()
    if result.compact is not None and result.compact_form is not None:
        compact.save(target, result.compact_form, dict(result.compact), result.feature_names)
    if result.onnx_bytes is not None:
        (target / MODEL_FILE).write_bytes(result.onnx_bytes)
    meta = {
        "input_dtype": result.input_dtype,
        "outputs": [
            {"name": o.name, "onnx_name": o.onnx_name, "dtype": o.dtype, "shape": o.trailing_shape}
            for o in result.outputs
        ],
        "feature_names": result.feature_names,
        "tolerance": {"atol": result.tolerance.atol, "rtol": result.tolerance.rtol},
        "max_abs_diff": dict(result.max_abs_diff),
        "rows": result.rows,
    }
    text = json.dumps(meta, indent=2, sort_keys=True)
    (target / META_FILE).write_text(text + "\n", encoding="utf-8")


def attach(model: object, sample: Tensors, folder: Path) -> dict[str, str]:
    """Convert, write into ``folder`` when verified, and return the version's fast-path tags."""
    result = convert(model, sample)
    if result.available:
        write(folder, result)
    return {"fast_path": result.kind, "fast_path_reason": result.reason}


class FastModel:
    """A verified ONNX graph behind ``LoadedModel``, shaped like the sklearn runtime's outputs."""

    def __init__(
        self, session: object, meta: Mapping[str, object], file: Path, native_bytes: int
    ) -> None:
        self._session = session
        self._native_bytes = native_bytes
        (graph_input,) = session.get_inputs()  # type: ignore[attr-defined]
        self._input_name: str = graph_input.name
        self._input_dtype = np.dtype(str(meta["input_dtype"]))
        self._columns: int | None = graph_input.shape[1] if len(graph_input.shape) == 2 else None
        raw_outputs = meta["outputs"]
        assert isinstance(raw_outputs, list)
        self._outputs = tuple(
            FastOutput(o["name"], o["onnx_name"], o["dtype"], tuple(o["shape"]))
            for o in raw_outputs
        )
        self._onnx_names = [o.onnx_name for o in self._outputs]
        names = meta.get("feature_names")
        self._feature_names = [str(n) for n in names] if isinstance(names, list) else None
        self._file = file

    @property
    def session(self) -> object:
        """The onnxruntime ``InferenceSession`` serving this model."""
        return self._session

    def native_bytes(self) -> int:
        """The native heap the onnxruntime session took when it was created (tree nodes,
        weights, kernels), measured by ``native_memory``; a tree ensemble holds ~6x its file."""
        return self._native_bytes

    def predict(self, inputs: Tensors) -> dict[str, NDArray[np.generic]]:
        matrix = to_matrix(inputs, self._feature_names)
        if matrix.ndim != 2 or (self._columns is not None and matrix.shape[1] != self._columns):
            raise ValidationError(
                f"onnx fast path: expected rows x {self._columns} features, got {matrix.shape}"
            )
        try:
            feed = {self._input_name: np.asarray(matrix, dtype=self._input_dtype)}
        except (TypeError, ValueError) as exc:
            raise ValidationError(f"onnx fast path: cannot convert the inputs: {exc}") from exc
        try:
            values = self._session.run(self._onnx_names, feed)  # type: ignore[attr-defined]
        except Exception as exc:
            raise PredictError(f"onnx fast path: inference failed: {exc}") from exc
        return {o.name: _restore(v, o) for o, v in zip(self._outputs, values, strict=True)}


def _feature_names(folder: Path) -> list[str] | None:
    """The feature names in ``fast.json`` (None for models fitted on bare arrays)."""
    try:
        names = json.loads((folder / FAST_DIR / META_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    listed = names.get("feature_names") if isinstance(names, dict) else None
    return [str(n) for n in listed] if isinstance(listed, list) else None


def load_fast(folder: Path, options: LoadOptions) -> LoadedModel | None:
    """The package's verified fast model, or None when it has none (or it cannot be opened).

    ``options`` does not matter: an ONNX graph or a compact form's arrays are data, so loading
    them runs no code from the package. A fast form that fails to open is logged and skipped,
    since skops still works.
    """
    del options
    try:
        quick = compact.load(folder / FAST_DIR)  # one file read: a cache miss pays it
        if quick is None and (folder / FAST_DIR / compact.LEGACY_FOREST_FILE).is_file():
            quick = compact.load_legacy(folder / FAST_DIR, _feature_names(folder))
    except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile) as exc:
        logger.warning("compact form of %s unusable, using the sklearn path: %s", folder, exc)
        return None
    if quick is not None:
        return quick
    file = folder / FAST_DIR / MODEL_FILE
    if not file.is_file():
        return None
    from shoal.runtimes.onnx import open_session

    try:
        meta = json.loads((folder / FAST_DIR / META_FILE).read_text(encoding="utf-8"))
        session, native = open_session(file)
        return FastModel(session, meta, file, native)
    except (OSError, ValueError, KeyError, TypeError, AssertionError, RuntimeLoadError) as exc:
        logger.warning("fast path of %s unusable, using the sklearn path: %s", folder, exc)
        return None
