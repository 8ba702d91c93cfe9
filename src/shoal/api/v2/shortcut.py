"""A raw ASGI path for ``POST .../infer``: the hot path skips the framework's routing layers.

Profiling the server under load showed FastAPI's routing, dependency solving (which parses
cookies on every request) and response plumbing costing more CPU than decoding, predicting and
encoding together. Inference needs none of it, so this middleware answers infer requests itself,
with the same codec, service, limits and JSON errors as the FastAPI routes (which stay for the
OpenAPI schema); every other request goes on to the app.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson

from shoal.access.service import LOCAL_GRANT
from shoal.api.auth import grant_of_raw
from shoal.api.errors import error_headers, status_of
from shoal.api.v2.codec import HEADER_LENGTH
from shoal.api.v2.inference import answer, read_limited
from shoal.api.v2.routes import model_ref
from shoal.errors import NotFoundError, ShoalError
from shoal.observability.tracing import RequestTrace, current, now_ns

logger = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

HEADER_LENGTH_NAME = HEADER_LENGTH.encode("latin-1")

INFER_PATH = re.compile(r"/v2/models/([^/]+)/([^/]+)(?:/versions/([^/]+))?/infer")


class InferShortcut:
    """ASGI middleware: answers V2 infer requests directly, passes everything else on."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            match = INFER_PATH.fullmatch(scope["path"])
            if match is not None:
                await self._infer(scope, receive, send, match)
                return
        await self.app(scope, receive, send)

    async def _infer(
        self, scope: Scope, receive: Receive, send: Send, match: re.Match[str]
    ) -> None:
        state = scope["app"].state
        headers: dict[bytes, bytes] = dict(scope["headers"])  # names arrive lower-case
        trace = current()
        # The auth and usage-plan phases are recorded here inline (a ``span`` is three Python
        # calls), and timed only when traced; ``phase`` names the one open, recorded as failed
        # if it raises.
        phase, started = "", 0
        try:
            # Who, then whether they may see the model, then their plan, then the body:
            # refusals cost no body read and no model load.
            access = state.access
            granted = LOCAL_GRANT
            if access is not None:
                phase, started = "auth", (0 if trace is None else now_ns())
                granted = grant_of_raw(access, headers)
                if trace is not None:
                    trace.phases.append(("auth", started, now_ns(), None, False))
                phase = ""
            ref = model_ref(*match.groups())
            if not granted.principal.can_see(ref.tenant):  # 404: as if it did not exist
                raise NotFoundError(f"model {ref.name} does not exist")
            if granted.plan is not None:  # only ever with access: LOCAL_GRANT has no plan
                phase, started = "usage_plan", (0 if trace is None else now_ns())
                access.plans.charge(granted.plan)
                if trace is not None:
                    trace.phases.append(("usage_plan", started, now_ns(), None, False))
                phase = ""
            declared = headers.get(b"content-length")
            body = await read_limited(
                receive, declared.decode("latin-1") if declared else None, state.max_body_bytes
            )
            header_length = headers.get(HEADER_LENGTH_NAME)
            reply = await answer(
                state.inference,
                ref,
                body,
                header_length.decode("latin-1") if header_length else None,
                state.capture,
            )
        except ShoalError as exc:
            _failed(trace, phase, started)
            status = status_of(exc)
            if status >= 500:
                logger.error("POST %s failed: %s", scope["path"], exc)
            extra = [
                (k.lower().encode(), v.encode()) for k, v in error_headers(exc, status).items()
            ]
            body = orjson.dumps({"error": str(exc), "type": type(exc).__name__})
            await _send(send, status, body, "application/json", extra)
            return
        except Exception:
            _failed(trace, phase, started)
            logger.exception("POST %s failed unexpectedly", scope["path"])
            body = orjson.dumps({"error": "internal error", "type": "InternalError"})
            await _send(send, 500, body, "application/json", [])
            return
        extra = [(k.lower().encode(), v.encode()) for k, v in reply.headers.items()]
        await _send(send, 200, reply.body, reply.media_type, extra)


def _failed(trace: RequestTrace | None, phase: str, started: int) -> None:
    """Record the phase open when the request failed (if any) as failed."""
    if trace is not None and phase:
        trace.phases.append((phase, started, now_ns(), None, True))


async def _send(
    send: Send, status: int, body: bytes, media_type: str, extra: list[tuple[bytes, bytes]]
) -> None:
    headers = [
        (b"content-type", media_type.encode()),
        (b"content-length", str(len(body)).encode()),
        *extra,
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
