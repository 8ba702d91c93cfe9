"""Request body limits for management routes, refused with 413 and a JSON error body.

FastAPI's own ``max_body_size`` answers in plain text from inside the route, out of reach of
the app's error handlers; these route classes refuse a declared length before reading and
stop a streamed body as soon as it passes the limit.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException
from starlette.types import Message

from shoal.errors import PayloadTooLargeError

MAX_JSON_BYTES = 1 << 20
"""Largest body of any management route but registration."""

Handler = Callable[[Request], Coroutine[Any, Any, Response]]


def _limited(request: Request, limit: int) -> Request:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise PayloadTooLargeError(
            f"request body of {int(declared):,} bytes is over the {limit:,} byte limit"
        )
    receive = request.receive
    seen = 0

    async def limited_receive() -> Message:
        nonlocal seen
        message = await receive()
        seen += len(message.get("body", b""))
        if seen > limit:
            # An HTTPException, because FastAPI turns any other error while it reads the body
            # into a 400; the app's handler renders it as JSON.
            raise HTTPException(413, f"request body is over the {limit:,} byte limit")
        return message

    return Request(request.scope, limited_receive)


class JsonRoute(APIRoute):
    """A route whose body may be at most ``MAX_JSON_BYTES``."""

    def get_route_handler(self) -> Handler:
        handler = super().get_route_handler()

        async def limited(request: Request) -> Response:
            return await handler(_limited(request, MAX_JSON_BYTES))

        return limited


class UploadRoute(APIRoute):
    """A route whose body may be as large as the app's ``max_upload_bytes`` (model uploads)."""

    def get_route_handler(self) -> Handler:
        handler = super().get_route_handler()

        async def limited(request: Request) -> Response:
            limit: int = request.app.state.max_upload_bytes
            return await handler(_limited(request, limit))

        return limited
