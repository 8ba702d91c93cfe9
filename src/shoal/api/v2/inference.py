"""One inference over HTTP, independent of the framework: body in, status + headers + body out."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from shoal.api.v2.codec import HEADER_LENGTH, decode_request, encode_response
from shoal.errors import PayloadTooLargeError, ValidationError
from shoal.observability.capture import CaptureRecord, DataCapture
from shoal.observability.capture_ids import new_inference_id
from shoal.observability.tracing import span
from shoal.registry.refs import ModelRef
from shoal.serving.service import InferenceService

CACHE_HEADER = "Shoal-Cache"
"""Response header: ``hit`` if the model was resident, ``miss`` if the request waited for a load."""

INFERENCE_ID_HEADER = "Shoal-Inference-Id"
"""Response header: the inference id (the body's ``id``): the request's, else a new one
(percent-encoded if it is not ASCII, which HTTP headers cannot carry as text)."""


Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]


async def read_limited(receive: Receive, declared: str | None, limit: int) -> bytes:
    """An ASGI request body, refused (413) before reading when its declared length is over
    ``limit``, and as soon as what arrives passes it otherwise."""
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLargeError(
            f"request body of {int(declared):,} bytes is over the {limit:,} byte limit"
        )
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise PayloadTooLargeError(f"request body is over the {limit:,} byte limit")
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


@dataclass(frozen=True, slots=True)
class InferReply:
    body: bytes
    media_type: str
    headers: dict[str, str]


async def answer(
    serving: InferenceService,
    ref: ModelRef,
    body: bytes,
    header_length: str | None,
    capture: DataCapture | None = None,
) -> InferReply:
    """Decode a V2 request, run it, and encode the V2 response (JSON, or JSON + binary).

    With ``capture``, a sampled inference is queued for writing (bodies by reference).
    """
    if header_length is not None and not header_length.isdigit():
        raise ValidationError(f"{HEADER_LENGTH} must be an integer, got {header_length!r}")
    decoded = decode_request(body, int(header_length) if header_length is not None else None)
    requested = [output.name for output in decoded.outputs]
    prediction = await serving.infer(ref, decoded.inputs, requested)
    binary = [name for name in prediction.outputs if decoded.binary_by_default]
    binary += [output.name for output in decoded.outputs if output.binary]
    inference_id = decoded.id if decoded.id is not None else new_inference_id()
    version = prediction.version.version
    content, head = encode_response(
        ref.name, str(version), inference_id, prediction.outputs, binary
    )
    headers = {
        CACHE_HEADER: "hit" if prediction.cache_hit else "miss",
        INFERENCE_ID_HEADER: inference_id if inference_id.isascii() else quote(inference_id),
    }
    if capture is not None and capture.sampled(ref.tenant, ref.model):
        with span("capture") as capturing:
            size = len(body) + len(content)
            record = CaptureRecord(
                inference_id,
                ref.tenant,
                ref.model,
                version,
                time.time(),
                body if header_length is None else decoded.inputs,  # the JSON as sent, or tensors
                content if head is None else prediction.outputs,
                size,
            )
            capturing.set("shoal.capture.queued", capture.offer(record))
    if head is None:
        return InferReply(content, "application/json", headers)
    headers["Inference-Header-Content-Length"] = str(head)
    return InferReply(content, "application/octet-stream", headers)
