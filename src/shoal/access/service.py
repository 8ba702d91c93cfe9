"""``AccessService``: what a request's token is granted (who, under which plan), admitting it
against that plan, and the audit log of key and plan changes.

What a token is granted is kept per token (and per raw ``Authorization`` header value, so the
server need not even decode it), so a request's authentication is one dict lookup (no parsing,
hashing or plan resolution) while neither its key nor any plan changed: a change
made here or reported by the change feed bumps ``KeyService.generation`` or
``PlanService.generation``, which every kept grant is checked against.
"""

from __future__ import annotations

from dataclasses import dataclass

from shoal.access.bearer import bearer_token
from shoal.access.cache import TtlCache
from shoal.access.changes import AccessChangeFeed
from shoal.access.keys import KeyService
from shoal.access.plans import PlanService
from shoal.access.records import (
    AccessEvent,
    AccessEventQuery,
    Decision,
    Principal,
    Scope,
    UsagePlan,
)
from shoal.access.store import AccessAuditLog
from shoal.errors import NotFoundError
from shoal.registry.names import check_name
from shoal.registry.pages import check_page
from shoal.registry.records import Page, PageRequest


@dataclass(frozen=True, slots=True)
class Grant:
    """What a token may do: who it speaks for and the plan that limits it (None: no limit)."""

    principal: Principal
    plan: UsagePlan | None


Credential = str | bytes
"""An API key, or the raw ``Authorization`` header value carrying one (see ``grant``)."""

LOCAL_GRANT = Grant(Principal(key_id="no-auth", scope=Scope.ADMIN, tenant=None), None)
"""What every request is granted when the server runs without keys (``--no-auth``)."""


@dataclass(frozen=True, slots=True)
class Admission:
    """A request let in: who it speaks for and the limiter's decision (for rate-limit headers)."""

    principal: Principal
    decision: Decision


class AccessService:
    """Keys, plans and their audit log together; the HTTP layer calls ``admit`` per request."""

    def __init__(
        self,
        keys: KeyService,
        plans: PlanService,
        audit: AccessAuditLog | None = None,
        changes: AccessChangeFeed | None = None,
        max_cached: int = 100_000,
    ) -> None:
        if changes is not None and changes.timer is not keys.timer:
            raise ValueError("the change feed must run on the key service's timer")
        self.keys = keys
        self.plans = plans
        self._audit = audit
        self._changes = changes
        self._timer = keys.timer
        # credential -> (key generation, plan generation, grant); only ever in memory, like
        # the requests carrying the credentials.
        self._grants: TtlCache[Credential, tuple[int, int, Grant]] = TtlCache(
            max_cached, keys.timer
        )
        self._kept = self._grants.entries

    def grant(self, credential: Credential) -> Grant:
        """Who a credential speaks for and the plan that limits it, after applying any key and
        plan changes due; ``AuthenticationError`` for a malformed, unknown or revoked key.

        ``credential`` is an API key, or the raw value of an ``Authorization`` header as the
        server received it (bytes, ``Bearer <key>``), which is parsed only when not kept.
        """
        # The hot path: one clock read for the change feed and the entry's expiry, one dict
        # lookup, two generation checks; no call of its own (each costs ~0.3 µs here).
        now = self._timer()
        changes = self._changes
        if changes is not None and now >= changes.due:
            changes.poll_if_due()
        kept = self._kept.get(credential)
        if kept is not None and kept[0] > now:
            keys_seen, plans_seen, granted = kept[1]
            if keys_seen == self.keys.generation and plans_seen == self.plans.generation:
                return granted
        return self._grant_anew(credential)

    def _grant_anew(self, credential: Credential) -> Grant:
        keys, plans = self.keys, self.plans
        # Generations read before the lookups: a change made meanwhile leaves this entry
        # stale (looked up again next time), never wrongly fresh.
        generations = keys.generation, plans.generation
        token = (
            bearer_token(credential.decode("latin-1"))
            if isinstance(credential, bytes)
            else credential
        )
        principal = keys.authenticate(token)
        granted = Grant(principal, plans.plan_for(principal))
        self._grants.put(credential, (*generations, granted), keys.ttl_s)
        return granted

    def authenticate(self, token: str) -> Principal:
        """The principal a token speaks for (see ``grant``)."""
        return self.grant(token).principal

    def admit(self, token: str) -> Admission:
        """The verified principal and its decision.

        ``AuthenticationError`` for a malformed, unknown or revoked key; ``RateLimitedError``
        (with ``retry_after_s``) when over a rate limit or quota. Neither touches the database
        while the key's and plan's cache entries are fresh.
        """
        granted = self.grant(token)
        return Admission(granted.principal, self.plans.charge(granted.plan))

    def history(
        self, query: AccessEventQuery | None = None, page: PageRequest = PageRequest()
    ) -> Page[AccessEvent]:
        """Key and plan changes, newest first: who created or revoked which key, who set or
        removed which plan, when."""
        if self._audit is None:
            raise NotFoundError("this access service keeps no audit log")
        query = query or AccessEventQuery()
        if query.tenant is not None:
            check_name(query.tenant, "tenant name")
        return self._audit.list_access_events(query, check_page(page))
