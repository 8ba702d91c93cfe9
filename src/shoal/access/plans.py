"""``PlanService``: usage plans per tenant or key, and applying them to each request.

Which plan limits a principal: its key's own plan (``key:<id>``), else its tenant's, else the
default plan (tenant keys only; each tenant gets its own bucket and counters). Admin keys
without a plan of their own are not limited. Plans are looked up through a short-lived cache
(``ttl_s``, 2 s by default), like keys, so a change reaches every process within that time and
the hot path never waits on the database.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime

from shoal.access.cache import Timer, TtlCache
from shoal.access.records import (
    KEY_SUBJECT_PREFIX,
    UNLIMITED,
    Decision,
    LimitReason,
    Principal,
    Usage,
    UsagePlan,
    key_subject,
)
from shoal.access.store import KeyStore, PlanStore, RateLimiter, TenantDirectory, plan_missing
from shoal.access.windows import epoch_us
from shoal.errors import NotFoundError, RateLimitedError, ValidationError
from shoal.registry.names import check_name
from shoal.registry.pages import check_page
from shoal.registry.records import Page, PageRequest

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]

_LIMIT_WORDS = {
    LimitReason.RATE: "rate limit",
    LimitReason.DAY_QUOTA: "daily quota",
    LimitReason.MONTH_QUOTA: "monthly quota",
}


def utc_now() -> datetime:
    return datetime.now(UTC)


class PlanService:
    """Sets and lists plans, admits requests against them and reports usage."""

    def __init__(
        self,
        plans: PlanStore,
        limiter: RateLimiter,
        tenants: TenantDirectory,
        keys: KeyStore,
        *,
        default_plan: UsagePlan | None = None,
        clock: Clock | None = None,
        timer: Timer = time.monotonic,
        ttl_s: float = 2.0,
        max_cached: int = 100_000,
    ) -> None:
        self._plans = plans
        self._limiter = limiter
        self._tenants = tenants
        self._keys = keys
        self._default = default_plan
        # Change records take datetimes; the limiter takes epoch microseconds, from the
        # system clock's nanoseconds (a C call: no Python frame per request) unless a test
        # gives its own clock.
        self._clock = clock or utc_now
        self._epoch_ns = time.time_ns if clock is None else _nanoseconds_of(clock)
        self._ttl_s = ttl_s
        # subject -> its plan, or None when it has none (cached too: most subjects have none).
        self._cache: TtlCache[str, tuple[UsagePlan | None]] = TtlCache(max_cached, timer)
        self.generation = 0
        """Bumped whenever a cached plan may have changed: what was derived from one is stale."""

    # -- plans -----------------------------------------------------------------------------

    def set_plan(self, plan: UsagePlan, actor: str) -> UsagePlan:
        """Create or replace the plan of an existing tenant or key."""
        self._check_subject(plan.subject)
        saved = self._plans.set_plan(plan, actor, self._clock())
        self.invalidate(plan.subject)
        logger.info("usage plan of %s set to %s by %s", plan.subject, plan.limits, actor)
        return saved

    def invalidate(self, subject: str) -> None:
        """Forget the cached plan of ``subject`` (a tenant or ``key:<id>``): it changed."""
        self._cache.discard(subject)
        self.generation += 1

    def get_plan(self, subject: str) -> UsagePlan:
        plan = self._plans.find_plan(subject)
        if plan is None:
            raise plan_missing(subject)
        return plan

    def remove_plan(self, subject: str, actor: str) -> UsagePlan:
        removed = self._plans.remove_plan(subject, actor, self._clock())
        self.invalidate(subject)
        logger.info("usage plan of %s (%s) removed by %s", subject, removed.limits, actor)
        return removed

    def list_plans(self, page: PageRequest = PageRequest()) -> Page[UsagePlan]:
        return self._plans.list_plans(check_page(page))

    def plan_for(self, principal: Principal) -> UsagePlan | None:
        """The plan that limits ``principal`` (see the module docstring), or None."""
        plan = self._cached_plan(key_subject(principal.key_id))
        if plan is None and principal.tenant is not None:
            plan = self._cached_plan(principal.tenant)
            if plan is None and self._default is not None:
                plan = replace(self._default, subject=principal.tenant)
        return plan

    # -- limiting --------------------------------------------------------------------------

    def acquire(self, principal: Principal) -> Decision:
        """Take one request from the principal's plan (counted only if allowed)."""
        plan = self.plan_for(principal)
        if plan is None:
            return UNLIMITED
        return self._limiter.acquire(plan.subject, plan, self._epoch_ns() // 1000)

    def admit(self, principal: Principal) -> Decision:
        """``acquire``, raising ``RateLimitedError`` (with ``retry_after_s``) when refused."""
        return self.charge(self.plan_for(principal))

    def charge(self, plan: UsagePlan | None) -> Decision:
        """Count one request against ``plan`` (None: unlimited), as ``admit`` does, for a
        caller that has the plan already (``AccessService.grant``)."""
        if plan is None:
            return UNLIMITED
        decision = self._limiter.acquire(plan.subject, plan, self._epoch_ns() // 1000)
        if decision.allowed:
            return decision
        reason = decision.reason or LimitReason.RATE
        raise RateLimitedError(
            f"{plan.subject!r} is over its {_LIMIT_WORDS[reason]}; "
            f"retry after {decision.retry_after_s:.3f} s",
            decision.retry_after_s,
            reason,
            plan.subject,
        )

    def usage(self, subject: str) -> list[Usage]:
        """Used, limit and ratio of the subject's day and month windows now.

        A tenant without a plan of its own reports against the default plan.
        """
        plan = self._plans.find_plan(subject)
        if plan is None and self._default is not None and _is_tenant(subject):
            plan = replace(self._default, subject=subject)
        if plan is None:
            raise plan_missing(subject)
        return self._limiter.usage(subject, plan, self._epoch_ns() // 1000)

    def usage_of(self, plan: UsagePlan) -> list[Usage]:
        """Usage against a plan already in hand (e.g. from ``list_plans``): no plan lookup."""
        return self._limiter.usage(plan.subject, plan, self._epoch_ns() // 1000)

    # -- helpers ---------------------------------------------------------------------------

    def _cached_plan(self, subject: str) -> UsagePlan | None:
        cached = self._cache.get(subject)
        if cached is None:
            cached = (self._plans.find_plan(subject),)
            self._cache.put(subject, cached, self._ttl_s)
        return cached[0]

    def _check_subject(self, subject: str) -> None:
        if subject.startswith(KEY_SUBJECT_PREFIX):
            key_id = subject.removeprefix(KEY_SUBJECT_PREFIX)
            if self._keys.find_key(key_id) is None:
                raise NotFoundError(f"API key {key_id!r} does not exist")
            return
        if not _is_tenant(subject):
            raise ValidationError(
                f"plan subject {subject!r} is neither a tenant name nor 'key:<key id>'"
            )
        if self._tenants.find_tenant(subject) is None:
            raise NotFoundError(f"tenant {subject!r} does not exist")


def _nanoseconds_of(clock: Clock) -> Callable[[], int]:
    return lambda: epoch_us(clock()) * 1000


def _is_tenant(subject: str) -> bool:
    try:
        check_name(subject, "tenant name")
    except ValidationError:
        return False
    return True
