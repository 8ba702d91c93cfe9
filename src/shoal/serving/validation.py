"""Checks request tensors against a version's signature, with messages that say what it expects."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from numpy.typing import NDArray

from shoal.errors import ValidationError
from shoal.runtimes.signature import Signature, TensorSpec, datatype_of, numpy_dtype

_NUMERIC_KINDS = {"BOOL": "b", "UINT": "u", "INT": "iu", "FP": "iuf"}
"""Which numpy kinds a declared datatype accepts without losing meaning (cast on the way in)."""


def _expects(spec: TensorSpec) -> str:
    dims = ", ".join("n" if d == -1 else str(d) for d in spec.shape)
    return f"{spec.name!r} as {spec.datatype} [{dims}]"


def _all_expected(signature: Signature) -> str:
    return "; ".join(_expects(spec) for spec in signature.inputs)


def _accepts(spec: TensorSpec, array: NDArray[np.generic]) -> bool:
    if spec.datatype == "BYTES":
        return array.dtype.kind in "OUS"
    family = spec.datatype.rstrip("0123456789")
    return array.dtype.kind in _NUMERIC_KINDS.get(family, "")


def _shape_fits(spec: TensorSpec, shape: tuple[int, ...]) -> bool:
    if len(spec.shape) != len(shape):
        return False
    return all(want in (-1, got) for want, got in zip(spec.shape, shape, strict=True))


def _cast(spec: TensorSpec, array: NDArray[np.generic]) -> NDArray[np.generic]:
    if spec.datatype == "BYTES" or datatype_of(array) == spec.datatype:
        return array
    return array.astype(numpy_dtype(spec.datatype))


def _is_column_matrix(signature: Signature, name: str, array: NDArray[np.generic]) -> bool:
    specs = signature.inputs
    return (
        len(specs) > 1
        and name not in {spec.name for spec in specs}
        and array.ndim == 2
        and array.shape[1] == len(specs)
        and all(len(spec.shape) == 1 for spec in specs)
    )


def check_inputs(
    signature: Signature, inputs: Mapping[str, NDArray[np.generic]]
) -> dict[str, NDArray[np.generic]]:
    """The inputs, cast where safe; ``ValidationError`` names what the signature expects.

    A version registered without a signature accepts anything (its runtime will complain).
    A model with one declared input also accepts one tensor under another name, and a model
    with one 1-D input per feature column also accepts a single ``[n, columns]`` matrix.
    """
    if not signature.inputs:
        return dict(inputs)
    if len(inputs) == 1:
        [(name, only)] = inputs.items()
        if len(signature.inputs) == 1 and name != signature.inputs[0].name:
            inputs = {signature.inputs[0].name: only}
        elif _is_column_matrix(signature, name, only):
            inputs = {spec.name: only[:, i] for i, spec in enumerate(signature.inputs)}
    out: dict[str, NDArray[np.generic]] = {}
    for spec in signature.inputs:
        if spec.name not in inputs:
            raise ValidationError(
                f"missing input {spec.name!r}; the model expects {_all_expected(signature)}"
            )
        array = inputs[spec.name]
        if not _accepts(spec, array):
            raise ValidationError(
                f"input {spec.name!r} is {datatype_of(array)}; the model expects {_expects(spec)}"
            )
        if not _shape_fits(spec, tuple(array.shape)):
            raise ValidationError(
                f"input {spec.name!r} has shape {list(array.shape)}; "
                f"the model expects {_expects(spec)}"
            )
        out[spec.name] = _cast(spec, array)
    unknown = sorted(set(inputs) - set(out))
    if unknown:
        raise ValidationError(
            f"unknown inputs {unknown}; the model expects {_all_expected(signature)}"
        )
    return out


def smoke_inputs(signature: Signature) -> dict[str, NDArray[np.generic]] | None:
    """One all-zero row shaped by the signature, to smoke-test a freshly loaded version."""
    if not signature.inputs:
        return None
    out: dict[str, NDArray[np.generic]] = {}
    for spec in signature.inputs:
        shape = tuple(1 if d == -1 else d for d in spec.shape)
        if spec.datatype == "BYTES":
            out[spec.name] = np.full(shape, b"", dtype=np.object_)
        else:
            out[spec.name] = np.zeros(shape, dtype=numpy_dtype(spec.datatype))
    return out
