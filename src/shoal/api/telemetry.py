"""ASGI middleware: every HTTP request (but health checks and scrapes) is measured, traced and
logged through the app's ``Telemetry``.

It is the outermost of the app's own middleware, so it wraps the infer shortcut as well as
the routes. It learns the status from ``http.response.start``; an exception that escapes the
app is a 500 (Starlette's error middleware, outside this one, answers it).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from shoal.observability.telemetry import Telemetry

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

UNTRACED = frozenset({"/metrics", "/v2/health/live", "/v2/health/ready"})
"""Probes and scrapes: neither traced, logged nor counted (a balancer polls them constantly)."""

INFER_ROUTE = "/v2/models/{tenant}/{model}/infer"
INFER_VERSION_ROUTE = "/v2/models/{tenant}/{model}/versions/{version}/infer"


def is_health_check(path: str) -> bool:
    """Server or per-model readiness and liveness."""
    return path in UNTRACED or (path.startswith("/v2/models/") and path.endswith("/ready"))


class RequestTelemetry:
    """Begins a ``RequestTrace`` for each request and finishes it with the status sent."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or is_health_check(scope["path"]):
            await self.app(scope, receive, send)
            return
        telemetry: Telemetry = scope["app"].state.telemetry
        path: str = scope["path"]
        method: str = scope["method"]
        infer = method == "POST" and path.endswith("/infer")
        trace = telemetry.begin(method, path, scope["headers"], infer=infer)
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            telemetry.finish(trace, status, _route(scope, path, infer))


def _route(scope: Scope, path: str, infer: bool) -> str:
    """The route's template (bounded label and span name), not the raw path."""
    if infer:
        return INFER_VERSION_ROUTE if "/versions/" in path else INFER_ROUTE
    route = scope.get("route")
    template = getattr(route, "path", None)
    return template if isinstance(template, str) else "(unmatched)"
