"""``AccessService``: the one call a request makes (authenticate, then admit against its plan),
and the audit log of key and plan changes."""

from __future__ import annotations

from dataclasses import dataclass

from shoal.access.changes import AccessChangeFeed
from shoal.access.keys import KeyService
from shoal.access.plans import PlanService
from shoal.access.records import AccessEvent, AccessEventQuery, Decision, Principal
from shoal.access.store import AccessAuditLog
from shoal.errors import NotFoundError
from shoal.registry.names import check_name
from shoal.registry.pages import check_page
from shoal.registry.records import Page, PageRequest


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
    ) -> None:
        self.keys = keys
        self.plans = plans
        self._audit = audit
        self._changes = changes

    def authenticate(self, token: str) -> Principal:
        """The principal a token speaks for, after applying any key and plan changes due."""
        if self._changes is not None:
            self._changes.poll_if_due()
        return self.keys.authenticate(token)

    def admit(self, token: str) -> Admission:
        """The verified principal and its decision.

        ``AuthenticationError`` for a malformed, unknown or revoked key; ``RateLimitedError``
        (with ``retry_after_s``) when over a rate limit or quota. Neither touches the database
        while the key's and plan's cache entries are fresh.
        """
        principal = self.authenticate(token)
        return Admission(principal, self.plans.admit(principal))

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
