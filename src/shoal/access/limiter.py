"""The limiting rule (token bucket plus day/month quotas) and the in-process limiters.

The rule: refill the bucket for the time since it was last seen (never above ``burst``), then
allow the request only if a whole token is there *and* neither quota is used up; only an allowed
request takes a token and counts towards the quotas. A refused one waits for the slowest of the
limits that refused it: the next token, or the end of the exhausted quota window.
``shoal.storage.redis_limiter`` runs the same rule as a Lua script and
``shoal.access.native_limiter`` in C; the contract suite in ``tests/integration/access`` holds
them all to it. ``in_memory_limiter()`` is the C one when it was built (``setup.py``), else
``PythonRateLimiter``.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass

from shoal.access.records import Decision, LimitReason, Usage, UsagePlan, Window
from shoal.access.store import RateLimiter
from shoal.access.windows import QuotaWindows, windows_at

_new_tuple = tuple.__new__

EPSILON = 1e-9
"""Slack for float refills: 0.1 s at 10/s must give a whole token, not 0.9999999999."""


def refill(tokens: float, last_us: int, now_us: int, plan: UsagePlan) -> tuple[float, int]:
    """The bucket at ``now_us`` (µs since the epoch): (tokens, time it was computed for).

    Times are whole microseconds so the elapsed time is exact; only the refill is a float.

    Time never runs backwards for a bucket: a caller whose clock is behind the last writer's
    (another replica) refills nothing and keeps the later timestamp.
    """
    if now_us > last_us:
        refilled = tokens + (now_us - last_us) * plan.rate_per_s / 1e6
        return min(float(plan.burst), refilled), now_us
    return min(float(plan.burst), tokens), last_us


def decide(
    tokens: float, day_used: int, month_used: int, plan: UsagePlan, windows: QuotaWindows
) -> Decision:
    """The decision for one request against a refilled bucket and the windows' counts so far."""
    # Same steps as the Lua script: the first limit with the strictly longest wait names it.
    wait, reason = 0.0, None
    if tokens < 1.0 - EPSILON:
        wait, reason = (1.0 - tokens) / plan.rate_per_s, LimitReason.RATE
    if plan.quota_per_day is not None and day_used >= plan.quota_per_day:
        left = windows.day_left_s
        if reason is None or left > wait:
            wait, reason = left, LimitReason.DAY_QUOTA
    if plan.quota_per_month is not None and month_used >= plan.quota_per_month:
        left = windows.month_left_s
        if reason is None or left > wait:
            wait, reason = left, LimitReason.MONTH_QUOTA
    if reason is None:
        return Decision(True, 0.0, whole_tokens(tokens - 1.0), None)
    return Decision(False, wait, whole_tokens(tokens), reason)


def whole_tokens(tokens: float) -> int:
    return max(0, math.floor(tokens + EPSILON))


def usage_of(
    subject: str, plan: UsagePlan, windows: QuotaWindows, day_used: int, month_used: int
) -> list[Usage]:
    """The day and month usage records for counts read at ``windows.now_us``."""
    return [
        Usage(subject, Window.DAY, day_used, plan.quota_per_day, windows.day_reset),
        Usage(subject, Window.MONTH, month_used, plan.quota_per_month, windows.month_reset),
    ]


@dataclass(slots=True)
class _Bucket:
    tokens: float
    last_us: int
    day_id: str
    day_used: int
    month_id: str
    month_used: int
    day_start_us: int
    day_reset_us: int
    """The day ``day_id`` names: the counters are current for every instant inside it."""


def in_memory_limiter() -> RateLimiter:
    """The limiter of one process: in C when its extension was built, else in Python."""
    try:
        from shoal.access.native_limiter import NativeRateLimiter
    except ImportError:  # installed where no C compiler was: the same rule in Python
        return PythonRateLimiter()
    return NativeRateLimiter()


class PythonRateLimiter:
    """A ``RateLimiter`` for one process: exact, thread-safe (one lock; a decision is ~1 µs).

    State is kept per subject; counters of past windows are dropped when a new window starts.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # Bound once: ``with self._lock`` makes two bound-method objects per request.
        self._hold, self._release = self._lock.acquire, self._lock.release
        self._buckets: dict[str, _Bucket] = {}

    def _current(self, subject: str, plan: UsagePlan, windows: QuotaWindows) -> _Bucket:
        bucket = self._buckets.get(subject)
        if bucket is None:
            bucket = _Bucket(
                float(plan.burst), windows.now_us, windows.day_id, 0, windows.month_id, 0, 0, 0
            )
            self._buckets[subject] = bucket
        bucket.tokens, bucket.last_us = refill(bucket.tokens, bucket.last_us, windows.now_us, plan)
        if bucket.day_id != windows.day_id:
            bucket.day_id, bucket.day_used = windows.day_id, 0
        if bucket.month_id != windows.month_id:
            bucket.month_id, bucket.month_used = windows.month_id, 0
        bucket.day_start_us, bucket.day_reset_us = windows.day_start_us, windows.day_reset_us
        return bucket

    def acquire(self, subject: str, plan: UsagePlan, now_us: int) -> Decision:
        self._hold()
        try:
            bucket = self._buckets.get(subject)
            if bucket is not None and bucket.day_start_us <= now_us < bucket.day_reset_us:
                # The hot path: ``refill`` and the allowed case of ``decide``, inline. Same
                # rule (tests hold the two paths to each other), a third of the time: on a
                # busy server every function call and object here costs cache misses.
                tokens = bucket.tokens
                if now_us > bucket.last_us:
                    tokens += (now_us - bucket.last_us) * plan.rate_per_s / 1e6
                    bucket.last_us = now_us
                if tokens > plan.burst:
                    tokens = float(plan.burst)
                bucket.tokens = tokens
                day, month = plan.quota_per_day, plan.quota_per_month
                if (
                    tokens >= 1.0 - EPSILON
                    and (day is None or bucket.day_used < day)
                    and (month is None or bucket.month_used < month)
                ):
                    bucket.tokens = tokens - 1.0
                    bucket.day_used += 1
                    bucket.month_used += 1
                    # tuple.__new__ straight: Decision() runs a Python-level __new__.
                    return _new_tuple(Decision, (True, 0.0, int(tokens - 1.0 + EPSILON), None))
            windows = windows_at(now_us)
            bucket = self._current(subject, plan, windows)
            decision = decide(bucket.tokens, bucket.day_used, bucket.month_used, plan, windows)
            if decision.allowed:
                bucket.tokens -= 1.0
                bucket.day_used += 1
                bucket.month_used += 1
            return decision
        finally:
            self._release()

    def counts(self, subject: str, now_us: int) -> tuple[int, int]:
        """Requests counted in the day and month windows ``now_us`` falls in."""
        windows = windows_at(now_us)
        with self._lock:
            bucket = self._buckets.get(subject)
            day = bucket.day_used if bucket and bucket.day_id == windows.day_id else 0
            month = bucket.month_used if bucket and bucket.month_id == windows.month_id else 0
        return day, month

    def usage(self, subject: str, plan: UsagePlan, now_us: int) -> list[Usage]:
        return usage_of(subject, plan, windows_at(now_us), *self.counts(subject, now_us))
