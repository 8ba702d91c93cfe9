"""Naming rules for tenants, models and aliases: safe as path parts, URLs and SQL keys."""

from __future__ import annotations

import re

from shoal.errors import InvalidNameError

MAX_NAME_LENGTH = 64
_NAME = re.compile(r"[a-z0-9](?:[a-z0-9._-]{0,62}[a-z0-9])?")
_ALIAS = re.compile(r"[a-z](?:[a-z0-9_-]{0,30}[a-z0-9])?")


def _describe_bad_char(value: str) -> str:
    for char in value:
        if ord(char) < 32 or ord(char) == 127:
            return f"control character {char!r}"
        if char in "/\\":
            return f"path separator {char!r}"
        if char.isupper():
            return "upper-case letters (names are lower-case)"
        if char.isspace():
            return "white space"
    return "characters outside a-z, 0-9, '.', '_' and '-'"


def check_name(value: str, kind: str = "name") -> str:
    """Return ``value`` if it is a valid tenant or model name, else raise ``InvalidNameError``.

    Names are 1-64 characters of ``a-z 0-9 . _ -``, start and end with a letter or digit and
    never contain ``..``, so a name is always safe as one path segment or URL part.
    """
    if not isinstance(value, str) or not value:
        raise InvalidNameError(f"{kind} must be a non-empty string, got {value!r}")
    if len(value) > MAX_NAME_LENGTH:
        raise InvalidNameError(f"{kind} {value!r} is longer than {MAX_NAME_LENGTH} characters")
    if ".." in value:
        raise InvalidNameError(f"{kind} {value!r} must not contain '..'")
    if not _NAME.fullmatch(value):
        if _NAME.fullmatch(value.lower()) is None or value != value.lower():
            reason = _describe_bad_char(value)
        else:
            reason = "a letter or digit at both ends"
        raise InvalidNameError(
            f"{kind} {value!r} is not allowed: it has {reason}; use 1-{MAX_NAME_LENGTH} "
            "characters of a-z, 0-9, '.', '_' and '-', starting and ending with a letter or digit"
        )
    return value


def check_alias(value: str) -> str:
    """Return ``value`` if it is a valid alias (``production``, ``staging``, ``canary-2``)."""
    if not isinstance(value, str) or not _ALIAS.fullmatch(value):
        raise InvalidNameError(
            f"alias {value!r} is not allowed: use 1-32 characters of a-z, 0-9, '_' and '-', "
            "starting with a letter"
        )
    return value
