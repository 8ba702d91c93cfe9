"""Model signatures: named tensor specs, inferred from sample data as V2 protocol datatypes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from shoal.errors import ValidationError


@dataclass(frozen=True, slots=True)
class TensorSpec:
    """One named input or output: an Open Inference Protocol datatype and a shape (-1 = any)."""

    name: str
    datatype: str
    shape: tuple[int, ...]

    def to_dict(self) -> dict[str, object]:
        return {"name": self.name, "datatype": self.datatype, "shape": list(self.shape)}

    @classmethod
    def from_dict(cls, raw: Mapping[str, object]) -> TensorSpec:
        shape = raw.get("shape", [])
        if not isinstance(shape, list | tuple):
            shape = []
        return cls(str(raw["name"]), str(raw["datatype"]), tuple(int(d) for d in shape))


@dataclass(frozen=True, slots=True)
class Signature:
    """The inputs a version accepts and the outputs it returns."""

    inputs: tuple[TensorSpec, ...] = ()
    outputs: tuple[TensorSpec, ...] = ()

    def to_dict(self) -> dict[str, object]:
        return {
            "inputs": [spec.to_dict() for spec in self.inputs],
            "outputs": [spec.to_dict() for spec in self.outputs],
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, object]) -> Signature:
        def specs(key: str) -> tuple[TensorSpec, ...]:
            items = raw.get(key) or []
            if not isinstance(items, list | tuple):
                return ()
            return tuple(TensorSpec.from_dict(item) for item in items if isinstance(item, Mapping))

        return cls(specs("inputs"), specs("outputs"))


DATATYPES: dict[str, str] = {
    "b": "BOOL",
    "u1": "UINT8",
    "u2": "UINT16",
    "u4": "UINT32",
    "u8": "UINT64",
    "i1": "INT8",
    "i2": "INT16",
    "i4": "INT32",
    "i8": "INT64",
    "f2": "FP16",
    "f4": "FP32",
    "f8": "FP64",
}
"""numpy ``kind + itemsize`` to the V2 protocol's datatype names."""

KNOWN_DATATYPES = frozenset(DATATYPES.values()) | {"BYTES"}

_NUMPY_DTYPES: dict[str, np.dtype[np.generic]] = {
    name: np.dtype("bool" if key == "b" else f"{key[0]}{key[1:]}")
    for key, name in DATATYPES.items()
}
_NUMPY_DTYPES["BYTES"] = np.dtype(np.object_)


def numpy_dtype(datatype: str) -> np.dtype[np.generic]:
    """The numpy dtype of a V2 datatype (``BYTES`` is an object array of ``bytes``)."""
    try:
        return _NUMPY_DTYPES[datatype]
    except KeyError:
        raise ValidationError(
            f"unknown datatype {datatype!r}; use one of {sorted(KNOWN_DATATYPES)}"
        ) from None


def datatype_of(array: NDArray[np.generic]) -> str:
    """The V2 datatype of an array; strings, bytes and objects are ``BYTES``."""
    dtype = array.dtype
    if dtype.kind in "OUS":
        return "BYTES"
    key = "b" if dtype.kind == "b" else f"{dtype.kind}{dtype.itemsize}"
    try:
        return DATATYPES[key]
    except KeyError:
        raise ValidationError(
            f"arrays of dtype {dtype} have no inference-protocol datatype"
        ) from None


def spec_of(name: str, array: NDArray[np.generic]) -> TensorSpec:
    """A spec whose first dimension (rows) is variable."""
    shape = tuple(array.shape)
    if not shape:
        return TensorSpec(name, datatype_of(array), ())
    return TensorSpec(name, datatype_of(array), (-1, *shape[1:]))


def infer_signature(
    inputs: Mapping[str, NDArray[np.generic]], outputs: Mapping[str, NDArray[np.generic]]
) -> Signature:
    """The signature of a model that maps ``inputs`` to ``outputs`` (row counts become -1)."""
    return Signature(
        inputs=tuple(spec_of(name, np.asarray(value)) for name, value in inputs.items()),
        outputs=tuple(spec_of(name, np.asarray(value)) for name, value in outputs.items()),
    )


def check_signature(signature: Signature) -> Signature:
    """Return ``signature`` if every datatype is known and names are unique, else raise."""
    for side, specs in (("input", signature.inputs), ("output", signature.outputs)):
        names = [spec.name for spec in specs]
        if len(set(names)) != len(names):
            raise ValidationError(f"signature has duplicate {side} names: {names}")
        for spec in specs:
            if spec.datatype not in KNOWN_DATATYPES:
                raise ValidationError(
                    f"signature {side} {spec.name!r} has unknown datatype {spec.datatype!r}; "
                    f"expected one of {sorted(KNOWN_DATATYPES)}"
                )
            if any(dim < -1 for dim in spec.shape):
                raise ValidationError(
                    f"signature {side} {spec.name!r} has an invalid shape {list(spec.shape)}"
                )
    return signature
