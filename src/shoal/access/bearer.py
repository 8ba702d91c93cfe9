"""Reading an API key out of an ``Authorization: Bearer <key>`` header value."""

from __future__ import annotations

from shoal.errors import AuthenticationError


def bearer_token(authorization: str) -> str:
    """The key in an ``Authorization`` header value; ``AuthenticationError`` for any other
    scheme or an empty key."""
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    raise AuthenticationError("the Authorization header must be 'Bearer <API key>'")
