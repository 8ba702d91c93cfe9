"""Domain errors to HTTP statuses, always with a JSON body ``{"error": "...", "type": "..."}``.

``type`` names the domain error class (``NotFoundError``), so a remote client raises the same
error an embedded one would; errors that are not Shoal's carry no ``type``.
"""

from __future__ import annotations

import logging
import math

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from shoal.api.json import JSONResponse
from shoal.errors import (
    AccessDeniedError,
    AuthenticationError,
    CapacityError,
    ConflictError,
    CorruptArtifactError,
    NotFoundError,
    PayloadTooLargeError,
    PredictError,
    RateLimitedError,
    RuntimeLoadError,
    ShoalError,
    UntrustedArtifactError,
    ValidationError,
)

logger = logging.getLogger(__name__)

STATUS: tuple[tuple[type[ShoalError], int], ...] = (
    (AuthenticationError, 401),
    (AccessDeniedError, 403),
    (RateLimitedError, 429),
    (PayloadTooLargeError, 413),
    (ValidationError, 400),
    (NotFoundError, 404),
    (ConflictError, 409),
    (CapacityError, 503),
    (UntrustedArtifactError, 500),
    (CorruptArtifactError, 500),
    (RuntimeLoadError, 500),
    (PredictError, 500),
)
"""First match wins; any other ShoalError is a 500."""


class ErrorBody(BaseModel):
    """What every error response carries."""

    error: str
    type: str | None = None


ERROR_RESPONSES: dict[int | str, dict[str, object]] = {
    status: {"model": ErrorBody, "description": description}
    for status, description in (
        (400, "Bad input: malformed JSON, a bad name, reference, value or cursor"),
        (401, "No API key, or a malformed, unknown or revoked one"),
        (403, "The key's scope does not allow this (admin only)"),
        (404, "Not found (or another tenant's, which looks the same)"),
        (409, "Clashes with the current state"),
        (413, "Request body over the size limit"),
        (429, "Over the usage plan's rate or quota (Retry-After)"),
        (500, "Internal error"),
        (503, "No capacity now (Retry-After)"),
    )
}
"""The error statuses routes declare in the OpenAPI document."""


def status_of(error: ShoalError) -> int:
    for kind, status in STATUS:
        if isinstance(error, kind):
            return status
    return 500


def error_headers(error: ShoalError, status: int) -> dict[str, str]:
    """Headers an error status needs: ``Retry-After`` on 429/503, ``WWW-Authenticate`` on 401."""
    if isinstance(error, RateLimitedError):
        return {"Retry-After": str(max(1, math.ceil(error.retry_after_s)))}
    if status == 503:
        return {"Retry-After": "1"}
    if status == 401:
        return {"WWW-Authenticate": 'Bearer realm="shoal"'}
    return {}


def error_response(
    status: int, message: str, headers: dict[str, str] | None = None, kind: str | None = None
) -> JSONResponse:
    body = {"error": message} if kind is None else {"error": message, "type": kind}
    return JSONResponse(body, status_code=status, headers=headers)


async def _shoal_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ShoalError)
    status = status_of(exc)
    if status >= 500:
        logger.error("%s %s failed: %s", request.method, request.url.path, exc)
    return error_response(status, str(exc), error_headers(exc, status), type(exc).__name__)


async def _invalid_request(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    details = "; ".join(
        f"{'.'.join(str(p) for p in error['loc'])}: {error['msg']}" for error in exc.errors()
    )
    return error_response(400, f"invalid request: {details}", kind="ValidationError")


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    return error_response(exc.status_code, str(exc.detail), dict(exc.headers or {}))


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    logger.exception("%s %s failed unexpectedly", request.method, request.url.path)
    return error_response(500, f"internal error: {type(exc).__name__}")


def install(app: FastAPI) -> None:
    """Register the handlers so every error leaves as JSON with the right status."""
    app.add_exception_handler(ShoalError, _shoal_error)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
