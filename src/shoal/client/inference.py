"""Open Inference Protocol (V2) requests and responses for a remote ``predict``.

Tensors travel with the binary tensor data extension both ways, so numbers arrive bit-exact
and nothing is converted to and from decimal text: the request is a JSON header followed by
the raw bytes of each input, and it asks for binary outputs.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import numpy as np
from numpy.typing import NDArray

from shoal.errors import RemoteError
from shoal.registry.refs import ModelRef
from shoal.runtimes.signature import datatype_of, numpy_dtype

HEADER_LENGTH = "Inference-Header-Content-Length"


def infer_path(ref: ModelRef) -> str:
    """``/v2/models/<tenant>/<model>[/versions/<number or alias>]/infer``."""
    path = f"/v2/models/{ref.tenant}/{ref.model}"
    if ref.version is not None:
        path += f"/versions/{ref.version}"
    elif ref.alias is not None:
        path += f"/versions/{ref.alias}"
    return path + "/infer"


def _blob(array: NDArray[np.generic], datatype: str) -> bytes:
    if datatype != "BYTES":
        return np.ascontiguousarray(array).tobytes()
    parts = []
    for item in array.ravel():
        raw = item if isinstance(item, bytes) else str(item).encode()
        parts.append(len(raw).to_bytes(4, "little") + raw)
    return b"".join(parts)


def encode_request(inputs: Mapping[str, NDArray[np.generic]]) -> tuple[bytes, int]:
    """The request body (JSON header + binary tensors) and the header's length."""
    specs: list[dict[str, object]] = []
    blobs: list[bytes] = []
    for name, value in inputs.items():
        array = np.asarray(value)
        datatype = datatype_of(array)
        blob = _blob(array, datatype)
        specs.append(
            {
                "name": name,
                "datatype": datatype,
                "shape": list(array.shape),
                "parameters": {"binary_data_size": len(blob)},
            }
        )
        blobs.append(blob)
    document = {"inputs": specs, "parameters": {"binary_data_output": True}}
    head = json.dumps(document, separators=(",", ":")).encode()
    return head + b"".join(blobs), len(head)


def _bytes_tensor(raw: bytes) -> list[bytes]:
    out: list[bytes] = []
    at = 0
    while at < len(raw):
        size = int.from_bytes(raw[at : at + 4], "little")
        out.append(raw[at + 4 : at + 4 + size])
        at += 4 + size
    return out


def _output(
    spec: Mapping[str, object], tail: bytes, offset: int
) -> tuple[NDArray[np.generic], int]:
    datatype = str(spec["datatype"])
    raw_shape = spec["shape"]
    if not isinstance(raw_shape, list):
        raise TypeError("shape is not a list")
    shape = tuple(int(d) for d in raw_shape)
    parameters = spec.get("parameters") or {}
    size = parameters.get("binary_data_size") if isinstance(parameters, Mapping) else None
    if size is None:  # JSON data (a server may answer so)
        data = spec["data"]
        if datatype == "BYTES":
            items = data if isinstance(data, list) else [data]
            array = np.array([str(v).encode() for v in items], dtype=np.object_)
            return array.reshape(shape), offset
        return np.asarray(data, dtype=numpy_dtype(datatype)).reshape(shape), offset
    blob = tail[offset : offset + int(str(size))]
    if datatype == "BYTES":
        return np.array(_bytes_tensor(blob), dtype=np.object_).reshape(shape), offset + len(blob)
    return np.frombuffer(blob, dtype=numpy_dtype(datatype)).reshape(shape), offset + len(blob)


def decode_response(body: bytes, header_length: str | None) -> dict[str, NDArray[np.generic]]:
    """The outputs of a V2 response (JSON, or JSON + binary tensors) as named arrays."""
    length = int(header_length) if header_length else len(body)
    try:
        document = json.loads(body[:length])
        outputs: dict[str, NDArray[np.generic]] = {}
        offset = 0
        for spec in document["outputs"]:
            outputs[str(spec["name"])], offset = _output(spec, body[length:], offset)
    except (KeyError, TypeError, ValueError) as exc:
        raise RemoteError(f"the server's inference response is not V2: {exc!r}") from exc
    return outputs
