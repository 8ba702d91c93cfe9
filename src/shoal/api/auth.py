"""Who a request speaks for: the API key in ``Authorization: Bearer`` (or ``X-API-Key``)."""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import Request

from shoal.access.bearer import bearer_token
from shoal.access.records import Principal
from shoal.access.service import LOCAL_GRANT, AccessService, Grant
from shoal.errors import AuthenticationError

LOCAL = LOCAL_GRANT.principal
"""The principal of every request when the server runs with ``--no-auth`` (loopback only)."""


def token_of(headers: Mapping[str, str]) -> str:
    """The API key a request carries; ``AuthenticationError`` when there is none."""
    authorization = headers.get("authorization")
    if authorization:
        return bearer_token(authorization)
    api_key = headers.get("x-api-key")
    if api_key:
        return api_key.strip()
    raise AuthenticationError(
        "an API key is required: send 'Authorization: Bearer <key>' (create one with "
        "'shoal keys create')"
    )


def principal_of(access: AccessService | None, headers: Mapping[str, str]) -> Principal:
    """The verified principal (from the key cache, microseconds); ``LOCAL`` without auth."""
    return grant_of(access, headers).principal


def grant_of(access: AccessService | None, headers: Mapping[str, str]) -> Grant:
    """Who the request speaks for and its plan (one lookup); ``LOCAL_GRANT`` without auth."""
    if access is None:
        return LOCAL_GRANT
    return access.grant(token_of(headers))


def grant_of_raw(access: AccessService, headers: Mapping[bytes, bytes]) -> Grant:
    """``grant_of`` for the headers as the server received them (lower-case bytes names): an
    ``Authorization`` header's raw value is itself the cache key of its grant, so a known one
    is granted without being decoded or parsed."""
    authorization = headers.get(b"authorization")
    if authorization:
        return access.grant(authorization)
    api_key = headers.get(b"x-api-key")
    return access.grant(token_of({"x-api-key": api_key.decode("latin-1")} if api_key else {}))


def principal(request: Request) -> Principal:
    """FastAPI dependency: the request's principal."""
    return principal_of(request.app.state.access, request.headers)
