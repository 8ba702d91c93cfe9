"""Access records: scopes, API keys, principals, usage plans, usage and limiter decisions.

``AuthenticationError``, ``AccessDeniedError`` and ``RateLimitedError`` live here for now; they
belong in ``shoal.errors`` (the tree drawn there) and will move.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import NamedTuple

from shoal.errors import (
    AccessDeniedError,
    NotFoundError,
    ValidationError,
)
from shoal.registry.records import JsonScalar

KEY_SUBJECT_PREFIX = "key:"
"""Plans for one key are filed under ``key:<key id>``; ':' never occurs in a tenant name."""


class Scope(StrEnum):
    """What a key may do: everything (admin) or one tenant's models only."""

    ADMIN = "admin"
    TENANT = "tenant"


@dataclass(frozen=True, slots=True)
class ApiKey:
    """An API key as listed: never its secret, only ``prefix`` to recognise it by."""

    id: str
    name: str
    scope: Scope
    tenant: str | None
    prefix: str
    created_at: datetime
    created_by: str
    revoked_at: datetime | None = None
    revoked_by: str | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    @property
    def subject(self) -> str:
        """The usage-plan subject of this key alone (``key:<id>``)."""
        return key_subject(self.id)


@dataclass(frozen=True, slots=True)
class StoredKey:
    """What a key store keeps: the key and the SHA-256 hex digest of its secret."""

    key: ApiKey
    secret_hash: str


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a request speaks for, once its key is verified."""

    key_id: str
    scope: Scope
    tenant: str | None

    @property
    def is_admin(self) -> bool:
        return self.scope is Scope.ADMIN

    def can_see(self, tenant: str) -> bool:
        """Whether this principal may call and list ``tenant``'s models."""
        return self.is_admin or self.tenant == tenant

    def require_visible(self, tenant: str, what: str) -> None:
        """``NotFoundError`` naming ``what`` unless ``can_see(tenant)``.

        Another tenant's model answers as if it did not exist, so a key cannot learn which
        models other tenants have.
        """
        if not self.can_see(tenant):
            raise NotFoundError(f"{what} does not exist")

    def require_admin(self, operation: str) -> None:
        """``AccessDeniedError`` unless this is an admin key."""
        if not self.is_admin:
            raise AccessDeniedError(f"{operation} needs an admin key; key {self.key_id} is not")


def key_subject(key_id: str) -> str:
    """The usage-plan subject of one key."""
    return f"{KEY_SUBJECT_PREFIX}{key_id}"


MAX_COUNT = 2**53
"""The largest burst or quota: every limiter counts exactly up to it (in a double, in C, in Lua)."""


@dataclass(frozen=True, slots=True)
class UsagePlan:
    """Limits of one subject (a tenant name or ``key:<id>``).

    A token bucket of ``burst`` tokens refilled at ``rate_per_s``, and optional quotas per UTC
    calendar day and month. ``updated_at``/``updated_by`` are the trail of the last change.
    """

    subject: str
    rate_per_s: float
    burst: int
    quota_per_day: int | None = None
    quota_per_month: int | None = None
    updated_at: datetime | None = None
    updated_by: str | None = None

    def __post_init__(self) -> None:
        if not (math.isfinite(self.rate_per_s) and self.rate_per_s > 0):
            raise ValidationError(f"rate_per_s must be a positive number, got {self.rate_per_s}")
        # A float always: every limiter refills in floating point, from the same value.
        object.__setattr__(self, "rate_per_s", float(self.rate_per_s))
        if not 1 <= self.burst <= MAX_COUNT:
            raise ValidationError(f"burst must be from 1 to {MAX_COUNT}, got {self.burst}")
        for name in ("quota_per_day", "quota_per_month"):
            quota = getattr(self, name)
            if quota is not None and not 0 <= quota <= MAX_COUNT:
                raise ValidationError(
                    f"{name} must be from 0 to {MAX_COUNT} (or None), got {quota}"
                )

    @property
    def limits(self) -> tuple[float, int, int | None, int | None]:
        """What the limiter applies (the trail fields left out)."""
        return (self.rate_per_s, self.burst, self.quota_per_day, self.quota_per_month)


class Window(StrEnum):
    """A quota window: a UTC calendar day or month."""

    DAY = "day"
    MONTH = "month"


@dataclass(frozen=True, slots=True)
class Usage:
    """How much of one window a subject used; ``limit``/``ratio`` are None when unlimited."""

    subject: str
    window: Window
    used: int
    limit: int | None
    resets_at: datetime

    @property
    def ratio(self) -> float | None:
        """``used / limit`` (1.0 when a zero quota is reached), or None without a limit."""
        if self.limit is None:
            return None
        if self.limit == 0:
            return 1.0
        return self.used / self.limit

    def near_limit(self, margin: float = 0.1) -> bool:
        """Whether usage is within ``margin`` (a fraction of the limit) of the limit."""
        ratio = self.ratio
        return ratio is not None and ratio >= 1.0 - margin


class LimitReason(StrEnum):
    """Which limit refused a request."""

    RATE = "rate"
    DAY_QUOTA = "quota_per_day"
    MONTH_QUOTA = "quota_per_month"


class Decision(NamedTuple):
    """The limiter's answer for one request.

    ``remaining_tokens`` is the whole tokens left in the bucket (None: no plan, unlimited);
    ``reason`` is the limit that refused it (the one with the longest wait), None if allowed.
    A named tuple: one is built per admitted request, and a tuple builds fastest.
    """

    allowed: bool
    retry_after_s: float = 0.0
    remaining_tokens: int | None = None
    reason: LimitReason | None = None

    @property
    def retry_after_header(self) -> str:
        """``Retry-After`` in whole seconds, rounded up (at least 1 when refused)."""
        if self.allowed:
            return "0"
        return str(max(1, math.ceil(self.retry_after_s)))


UNLIMITED = Decision(allowed=True)
"""The decision for a principal without any usage plan."""


class AccessAction(StrEnum):
    """What an access audit event records."""

    KEY_CREATED = "key.created"
    KEY_REVOKED = "key.revoked"
    PLAN_SET = "plan.set"
    PLAN_REMOVED = "plan.removed"


@dataclass(frozen=True, slots=True)
class AccessEvent:
    """One change to keys or plans, kept forever: who did what, when, to which subject.

    ``subject`` is ``key:<id>`` for key events and the plan's subject for plan events;
    ``tenant`` is the key's tenant or the tenant whose plan changed (None for admin keys and
    plans of one key). ``detail`` holds the key's name and scope, or the plan's limits.
    """

    id: int
    at: datetime
    actor: str
    action: AccessAction
    subject: str
    tenant: str | None = None
    detail: Mapping[str, JsonScalar] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AccessEventQuery:
    """Which access events to list (newest first): all, one subject's, one tenant's."""

    subject: str | None = None
    tenant: str | None = None


def key_detail(key: ApiKey) -> dict[str, JsonScalar]:
    """What a key event keeps about the key (never its secret)."""
    return {"name": key.name, "scope": Scope(key.scope).value, "prefix": key.prefix}


def plan_detail(plan: UsagePlan) -> dict[str, JsonScalar]:
    """What a plan event keeps: the limits set or removed."""
    return {
        "rate_per_s": plan.rate_per_s,
        "burst": plan.burst,
        "quota_per_day": plan.quota_per_day,
        "quota_per_month": plan.quota_per_month,
    }


def plan_tenant(subject: str) -> str | None:
    """The tenant a plan subject names, None for a plan of one key."""
    return None if subject.startswith(KEY_SUBJECT_PREFIX) else subject
