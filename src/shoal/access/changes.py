"""``AccessChangeFeed``: keeps cached keys and plans fresh from the access audit log.

Without it every cached key and plan expires on its own after the cache TTL and is read again,
one query per key and plan per interval: with 1,000 tenants calling, that is hundreds of
queries a second on the serving path. With it, entries live long and one query per interval
(``changes_since``) asks which keys and plans changed — by this process or any other — and
only those are dropped. Revocations and plan changes still reach every server within the
interval.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from shoal.access.keys import KeyService
from shoal.access.plans import PlanService
from shoal.access.records import KEY_SUBJECT_PREFIX
from shoal.access.store import AccessAuditLog
from shoal.errors import ShoalError

logger = logging.getLogger(__name__)


class AccessChangeFeed:
    """Polls the audit log at most every ``interval_s`` and invalidates what changed."""

    def __init__(
        self,
        audit: AccessAuditLog,
        keys: KeyService,
        plans: PlanService,
        interval_s: float,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        self._audit = audit
        self._keys = keys
        self._plans = plans
        self._interval_s = interval_s
        self._timer = timer
        self._lock = threading.Lock()
        self._seen: int | None = None  # read at the first poll, before anything is cached
        self.due = float("-inf")
        """When the next poll is due, on ``timer``: a caller that has read that clock already
        calls ``poll_if_due`` only from then on."""

    @property
    def timer(self) -> Callable[[], float]:
        return self._timer

    def poll_if_due(self) -> None:
        """Apply the changes since the last poll, if an interval has passed (else ~50 ns).

        Call it before every cache lookup: the first call only notes where the log ends (the
        caches are still empty then), so no change after that point can be missed.
        """
        if self._timer() < self.due:
            return
        if self._seen is None:
            with self._lock:
                if self._seen is None:
                    self._seen = self._audit.newest_event_id()
                    self.due = self._timer() + self._interval_s
            return
        if not self._lock.acquire(blocking=False):
            return
        try:
            self.due = self._timer() + self._interval_s
            try:
                newest, subjects = self._audit.changes_since(self._seen)
            except ShoalError as exc:  # the database is away: cached entries still expire
                logger.warning("cannot read access changes: %s", exc)
                return
            for subject in subjects:
                if subject.startswith(KEY_SUBJECT_PREFIX):
                    self._keys.invalidate(subject.removeprefix(KEY_SUBJECT_PREFIX))
                self._plans.invalidate(subject)
            self._seen = newest
        finally:
            self._lock.release()
