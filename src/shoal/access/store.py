"""The roles access needs from storage (keys, plans, tenants, a limiter) and their error words.

``shoal.storage`` implements them (SQL, in-memory, Redis); the stores raise the errors built
here so both say the same thing, and the contract suites check the behaviour that results.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from shoal.access.records import (
    AccessEvent,
    AccessEventQuery,
    ApiKey,
    Decision,
    StoredKey,
    Usage,
    UsagePlan,
)
from shoal.errors import ConflictError, NotFoundError, ValidationError
from shoal.registry.records import Page, PageRequest, Tenant


class TenantDirectory(Protocol):
    """Where tenants are looked up (the ``RegistryStore`` is one)."""

    def find_tenant(self, name: str) -> Tenant | None: ...


class KeyStore(Protocol):
    """API keys with the hash of their secret. Every method is one atomic transaction.

    Changes append their ``AccessEvent`` (``key.created``, ``key.revoked``) in the same
    transaction, so the access audit log cannot miss one.
    """

    def add_key(self, stored: StoredKey) -> ApiKey:
        """Record a new key (its creator and time are on it); ``NotFoundError`` for an unknown
        tenant, ``ConflictError`` if the id is taken."""
        ...

    def find_key(self, key_id: str) -> StoredKey | None: ...

    def list_keys(self, tenant: str | None, page: PageRequest) -> Page[ApiKey]:
        """Keys ordered by (created_at, id); one tenant's, or every key (admin ones too)."""
        ...

    def revoke_key(self, key_id: str, actor: str, at: datetime) -> ApiKey:
        """Mark a key revoked; ``NotFoundError`` if unknown, ``ConflictError`` if revoked."""
        ...


class PlanStore(Protocol):
    """Usage plans by subject. Every method is one atomic transaction.

    Changes append their ``AccessEvent`` (``plan.set``, ``plan.removed``) in the same
    transaction.
    """

    def set_plan(self, plan: UsagePlan, actor: str, at: datetime) -> UsagePlan:
        """Create or replace the subject's plan; returns it with ``updated_at``/``updated_by``."""
        ...

    def find_plan(self, subject: str) -> UsagePlan | None: ...

    def remove_plan(
        self, subject: str, actor: str | None = None, at: datetime | None = None
    ) -> UsagePlan:
        """Delete the subject's plan and return it; ``NotFoundError`` if it has none.

        ``actor`` and ``at`` go to the audit log (``unknown`` and now when not given).
        """
        ...

    def list_plans(self, page: PageRequest) -> Page[UsagePlan]:
        """Plans ordered by subject."""
        ...


class AccessAuditLog(Protocol):
    """Reads the access audit log that the key and plan stores append to."""

    def list_access_events(self, query: AccessEventQuery, page: PageRequest) -> Page[AccessEvent]:
        """Events newest first, filtered by subject and/or tenant."""
        ...

    def newest_event_id(self) -> int:
        """The id of the newest event; 0 when there is none (ids start at 1)."""
        ...

    def changes_since(self, after_id: int) -> tuple[int, set[str]]:
        """(newest event id, subjects of the events after ``after_id``)."""
        ...


class RateLimiter(Protocol):
    """Applies a plan atomically: token bucket and day/month quotas in one check-and-count.

    ``now_us`` (microseconds since the Unix epoch, ``time.time_ns() // 1000``) comes from the
    caller, so tests control time; a request counts only if allowed.
    """

    def acquire(self, subject: str, plan: UsagePlan, now_us: int) -> Decision: ...

    def usage(self, subject: str, plan: UsagePlan, now_us: int) -> list[Usage]:
        """Used/limit of the day and month windows ``now_us`` falls in."""
        ...


def key_missing(key_id: str) -> NotFoundError:
    return NotFoundError(f"API key {key_id!r} does not exist")


def key_exists(key_id: str) -> ConflictError:
    return ConflictError(f"API key {key_id!r} already exists")


def key_revoked(key: ApiKey) -> ConflictError:
    at = key.revoked_at.isoformat() if key.revoked_at else "?"
    return ConflictError(f"API key {key.id!r} was already revoked at {at} by {key.revoked_by}")


def plan_missing(subject: str) -> NotFoundError:
    return NotFoundError(f"no usage plan for {subject!r}")


def key_order(key: ApiKey) -> tuple[str, str]:
    """The listing order of keys, as a cursor key: (created_at in ISO 8601 UTC, id)."""
    return (key.created_at.isoformat(), key.id)


def key_after(cursor_key: tuple[str | int, ...]) -> tuple[datetime, str]:
    """The (created_at, id) a key listing resumes after, from a decoded cursor key."""
    try:
        at = datetime.fromisoformat(str(cursor_key[0]))
    except ValueError as exc:
        raise ValidationError(f"page cursor time {cursor_key[0]!r} is not ISO 8601") from exc
    if at.tzinfo is None:
        raise ValidationError(f"page cursor time {cursor_key[0]!r} has no time zone")
    return at, str(cursor_key[1])
