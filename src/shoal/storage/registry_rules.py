"""What both registry stores check and how they word their errors, so the fake cannot drift.

The SQL store and the in-memory store import these, which keeps their messages, cursor formats
and accepted arguments identical; the contract suite checks the behaviour that results.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TypeVar

from shoal.errors import ConflictError, NotFoundError, ValidationError
from shoal.registry.pages import check_page, decode_cursor, encode_cursor
from shoal.registry.records import AuditAction, Page, PageRequest

T = TypeVar("T")

ALIAS_ACTIONS = frozenset({AuditAction.ALIAS_SET, AuditAction.ALIAS_ROLLED_BACK})


def as_utc(value: datetime, what: str = "timestamp") -> datetime:
    """``value`` in UTC; ``ValidationError`` for a naive datetime, whose zone would be a guess."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValidationError(f"{what} {value.isoformat()} must be timezone-aware")
    return value.astimezone(UTC)


def default_number(aliased: int | None, approved: int | None, pending: int | None) -> int | None:
    """The version a reference without one serves: the alias's, else the latest approved, else
    the latest pending (``RegistryService.get_version``'s rule, for whole pages of models)."""
    for number in (aliased, approved, pending):
        if number is not None:
            return number
    return None


def check_alias_action(action: AuditAction) -> AuditAction:
    """``action`` if it may record an alias move (set or rolled back), else ``ValidationError``."""
    if action not in ALIAS_ACTIONS:
        allowed = ", ".join(sorted(ALIAS_ACTIONS))
        raise ValidationError(f"alias moves are recorded as {allowed}, not {str(action)!r}")
    return action


def page_key(page: PageRequest, *kinds: type[str] | type[int]) -> tuple[str | int, ...] | None:
    """The sort key a page starts after, checked against the listing's key types; None at start."""
    check_page(page)
    if page.cursor is None:
        return None
    key = decode_cursor(page.cursor)
    if len(key) != len(kinds) or not all(
        type(part) is kind for part, kind in zip(key, kinds, strict=False)
    ):
        raise ValidationError(f"page cursor {page.cursor!r} does not belong to this listing")
    return tuple(key)


def page_of(items: Sequence[T], limit: int, key: Callable[[T], tuple[str | int, ...]]) -> Page[T]:
    """A page of the first ``limit`` items; ``items`` holds one more when another page follows."""
    if len(items) <= limit:
        return Page(tuple(items))
    return Page(tuple(items[:limit]), encode_cursor(*key(items[limit - 1])))


def model_label(tenant: str, model: str) -> str:
    return f"{tenant}/{model}"


def version_label(tenant: str, model: str, version: int) -> str:
    return f"{tenant}/{model}:{version}"


def tenant_exists(tenant: str) -> ConflictError:
    return ConflictError(f"tenant {tenant!r} already exists")


def tenant_missing(tenant: str) -> NotFoundError:
    return NotFoundError(f"tenant {tenant!r} does not exist")


def model_missing(tenant: str, model: str) -> NotFoundError:
    return NotFoundError(f"model {model_label(tenant, model)!r} does not exist")


def version_missing(tenant: str, model: str, version: int) -> NotFoundError:
    return NotFoundError(f"version {version_label(tenant, model, version)!r} does not exist")


def alias_missing(tenant: str, model: str, alias: str) -> NotFoundError:
    return NotFoundError(f"alias {alias!r} of model {model_label(tenant, model)!r} is not set")


def version_aliased(tenant: str, model: str, version: int, alias_names: list[str]) -> ConflictError:
    names = ", ".join(repr(name) for name in sorted(alias_names))
    return ConflictError(
        f"version {version_label(tenant, model, version)!r} is still pointed at by alias "
        f"{names}; move or remove the alias first"
    )
