"""``AccessService``: the one call a request makes, authenticate then admit against its plan."""

from __future__ import annotations

from dataclasses import dataclass

from shoal.access.keys import KeyService
from shoal.access.plans import PlanService
from shoal.access.records import Decision, Principal


@dataclass(frozen=True, slots=True)
class Admission:
    """A request let in: who it speaks for and the limiter's decision (for rate-limit headers)."""

    principal: Principal
    decision: Decision


class AccessService:
    """Keys and plans together; the HTTP layer calls ``admit`` once per request."""

    def __init__(self, keys: KeyService, plans: PlanService) -> None:
        self.keys = keys
        self.plans = plans

    def admit(self, token: str) -> Admission:
        """The verified principal and its decision.

        ``AuthenticationError`` for a malformed, unknown or revoked key; ``RateLimitedError``
        (with ``retry_after_s``) when over a rate limit or quota. Neither touches the database
        while the key's and plan's cache entries are fresh.
        """
        principal = self.keys.authenticate(token)
        return Admission(principal, self.plans.admit(principal))
