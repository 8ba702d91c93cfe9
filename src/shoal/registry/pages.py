"""Opaque keyset cursors for paginated listings."""

from __future__ import annotations

import base64
import json

from shoal.errors import ValidationError
from shoal.registry.records import MAX_PAGE_SIZE, PageRequest


def encode_cursor(*key: str | int) -> str:
    """Encode the sort key of the last item of a page as an opaque, URL-safe string."""
    raw = json.dumps(list(key), separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> list[str | int]:
    """Decode a cursor made by ``encode_cursor``; ``ValidationError`` if it was tampered with."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        key = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, TypeError) as exc:
        raise ValidationError(f"invalid page cursor {cursor!r}") from exc
    if not isinstance(key, list) or not all(isinstance(part, str | int) for part in key):
        raise ValidationError(f"invalid page cursor {cursor!r}")
    return key


def check_page(page: PageRequest) -> PageRequest:
    """Return ``page`` if its limit is within 1..MAX_PAGE_SIZE, else raise ``ValidationError``."""
    if not 1 <= page.limit <= MAX_PAGE_SIZE:
        raise ValidationError(f"page limit must be between 1 and {MAX_PAGE_SIZE}, got {page.limit}")
    return page
