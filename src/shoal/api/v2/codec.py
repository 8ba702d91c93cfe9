"""V2 tensors to numpy and back, JSON and the binary tensor data extension.

A request body is a JSON document, optionally followed by raw tensor bytes: the JSON's length
is then given in the ``Inference-Header-Content-Length`` header and each binary input says its
size in ``parameters.binary_data_size`` (the extension tritonclient uses by default).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import orjson
from numpy.typing import NDArray

from shoal.errors import ValidationError
from shoal.runtimes.signature import KNOWN_DATATYPES, datatype_of, numpy_dtype

HEADER_LENGTH = "inference-header-content-length"

DTYPES: dict[str, np.dtype[np.generic]] = {name: numpy_dtype(name) for name in KNOWN_DATATYPES}


@dataclass(frozen=True, slots=True)
class RequestedOutput:
    name: str
    binary: bool = False


@dataclass(frozen=True, slots=True)
class DecodedRequest:
    """An inference request as numpy tensors."""

    id: str | None
    inputs: dict[str, NDArray[np.generic]]
    outputs: tuple[RequestedOutput, ...] = ()
    binary_by_default: bool = False
    parameters: Mapping[str, object] = field(default_factory=dict)


MAX_ID_LENGTH = 256


def _request_id(raw: object) -> str | None:
    """The request's ``id``: it is echoed in the response and a header, so it must be short and
    free of control characters (a line break would split the header)."""
    if raw is None:
        return None
    text = str(raw)
    if len(text) > MAX_ID_LENGTH or not text.isprintable():
        raise _fail(f"'id' must be up to {MAX_ID_LENGTH} printable characters, got {text[:80]!r}")
    return text


def _fail(message: str) -> ValidationError:
    return ValidationError(f"invalid inference request: {message}")


def _shape(raw: object, name: str) -> tuple[int, ...]:
    if not isinstance(raw, list) or not all(isinstance(d, int) and d >= 0 for d in raw):
        raise _fail(f"input {name!r} needs 'shape', a list of non-negative integers")
    return tuple(raw)


def _flatten(data: object) -> list[object]:
    if not isinstance(data, list):
        return [data]
    if data and isinstance(data[0], list):
        flat: list[object] = []
        for item in data:
            flat.extend(_flatten(item))
        return flat
    return data


def _bytes_tensor(raw: bytes, count: int, name: str) -> NDArray[np.generic]:
    # Each element: a 4-byte little-endian length, then that many bytes.
    out: list[bytes] = []
    at = 0
    while at < len(raw):
        size = int.from_bytes(raw[at : at + 4], "little")
        out.append(raw[at + 4 : at + 4 + size])
        at += 4 + size
    if len(out) != count:
        raise _fail(f"input {name!r} holds {len(out)} BYTES elements, its shape says {count}")
    return np.array(out, dtype=np.object_)


def _tensor(spec: Mapping[str, object], blob: bytes | None) -> NDArray[np.generic]:
    name = str(spec.get("name"))
    datatype = spec.get("datatype")
    if datatype not in DTYPES:
        raise _fail(f"input {name!r} has unknown datatype {datatype!r}; use one of {list(DTYPES)}")
    dtype = DTYPES[str(datatype)]
    shape = _shape(spec.get("shape"), name)
    count = math.prod(shape)  # exact (np.prod wraps around) and ~50x faster on a tuple
    if blob is not None:
        if datatype == "BYTES":
            flat = _bytes_tensor(blob, count, name)
        else:
            if len(blob) != count * dtype.itemsize:
                raise _fail(
                    f"input {name!r}: {len(blob)} binary bytes do not fit shape {list(shape)} "
                    f"of {datatype} ({count * dtype.itemsize} bytes)"
                )
            flat = np.frombuffer(blob, dtype=dtype)
        return flat.reshape(shape)
    if "data" not in spec:
        raise _fail(f"input {name!r} has no 'data'")
    values = _flatten(spec["data"])
    if len(values) != count:
        raise _fail(
            f"input {name!r} has {len(values)} values but shape {list(shape)} needs {count}"
        )
    try:
        if datatype == "BYTES":
            array = np.array(
                [v.encode() if isinstance(v, str) else v for v in values], dtype=np.object_
            )
        else:
            array = np.asarray(values, dtype=dtype)
    except (TypeError, ValueError, OverflowError) as exc:
        raise _fail(f"input {name!r}: data is not {datatype}: {exc}") from None
    return array.reshape(shape)


def decode_request(body: bytes, header_length: int | None) -> DecodedRequest:
    """Parse a V2 inference request (plain JSON or JSON + binary tensors)."""
    head, tail = (
        (body, b"") if header_length is None else (body[:header_length], body[header_length:])
    )
    if header_length is not None and not 0 < header_length <= len(body):
        raise _fail(f"{HEADER_LENGTH} {header_length} does not fit a body of {len(body)} bytes")
    try:
        document = orjson.loads(head)
    except orjson.JSONDecodeError as exc:
        raise ValidationError(f"request body is not valid JSON: {exc}") from None
    if not isinstance(document, dict):
        raise _fail("the body must be a JSON object")
    raw_inputs = document.get("inputs")
    if not isinstance(raw_inputs, list) or not raw_inputs:
        raise _fail("'inputs' must be a non-empty list")
    inputs: dict[str, NDArray[np.generic]] = {}
    offset = 0
    for spec in raw_inputs:
        if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
            raise _fail("every input needs a 'name'")
        parameters = spec.get("parameters") or {}
        size = parameters.get("binary_data_size") if isinstance(parameters, dict) else None
        blob = None
        if size is not None:
            if not isinstance(size, int) or size < 0 or offset + size > len(tail):
                raise _fail(f"input {spec['name']!r}: binary_data_size {size!r} is out of range")
            blob = tail[offset : offset + size]
            offset += size
        if spec["name"] in inputs:
            raise _fail(f"input {spec['name']!r} is given twice")
        inputs[spec["name"]] = _tensor(spec, blob)
    parameters = document.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise _fail("'parameters' must be an object")
    outputs = []
    for spec in document.get("outputs") or []:
        if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
            raise _fail("every requested output needs a 'name'")
        out_params = spec.get("parameters") or {}
        outputs.append(RequestedOutput(spec["name"], bool(out_params.get("binary_data", False))))
    return DecodedRequest(
        id=_request_id(document.get("id")),
        inputs=inputs,
        outputs=tuple(outputs),
        binary_by_default=bool(parameters.get("binary_data_output", False)),
        parameters=parameters,
    )


def _bytes_blob(array: NDArray[np.generic]) -> bytes:
    parts = []
    for item in array.ravel():
        raw = item if isinstance(item, bytes) else str(item).encode()
        parts.append(len(raw).to_bytes(4, "little") + raw)
    return b"".join(parts)


def encode_response(
    model_name: str,
    model_version: str,
    request_id: str | None,
    outputs: Mapping[str, NDArray[np.generic]],
    binary: Sequence[str] = (),
) -> tuple[bytes, int | None]:
    """The response body, and the JSON header length when binary outputs follow it."""
    entries: list[dict[str, object]] = []
    blobs: list[bytes] = []
    for name, array in outputs.items():
        datatype = datatype_of(array)
        entry: dict[str, object] = {"name": name, "datatype": datatype, "shape": list(array.shape)}
        if name in binary:
            blob = (
                _bytes_blob(array) if datatype == "BYTES" else np.ascontiguousarray(array).tobytes()
            )
            entry["parameters"] = {"binary_data_size": len(blob)}
            blobs.append(blob)
        elif datatype == "BYTES":
            entry["data"] = [
                v.decode(errors="replace") if isinstance(v, bytes) else str(v)
                for v in array.ravel()
            ]
        else:
            entry["data"] = array.ravel().tolist()
        entries.append(entry)
    document: dict[str, object] = {
        "model_name": model_name,
        "model_version": model_version,
        "outputs": entries,
    }
    if request_id is not None:
        document["id"] = request_id
    head = orjson.dumps(document)
    if not blobs:
        return head, None
    return head + b"".join(blobs), len(head)
