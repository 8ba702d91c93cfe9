"""The in-memory limiter's inline hot path decides exactly as the rule (``refill`` + ``decide``)."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from shoal.access.limiter import InMemoryRateLimiter, decide, refill
from shoal.access.records import Decision, UsagePlan
from shoal.access.windows import epoch_us, windows_at


class RuleOnly:
    """The limiting rule with nothing inlined or cached: the reference."""

    def __init__(self) -> None:
        self.state: dict[str, tuple[float, int, str, int, str, int]] = {}

    def acquire(self, subject: str, plan: UsagePlan, now_us: int) -> Decision:
        windows = windows_at(now_us)
        tokens, last_us, day_id, day_used, month_id, month_used = self.state.get(
            subject, (float(plan.burst), now_us, windows.day_id, 0, windows.month_id, 0)
        )
        tokens, last_us = refill(tokens, last_us, now_us, plan)
        if day_id != windows.day_id:
            day_id, day_used = windows.day_id, 0
        if month_id != windows.month_id:
            month_id, month_used = windows.month_id, 0
        decision = decide(tokens, day_used, month_used, plan, windows)
        if decision.allowed:
            tokens, day_used, month_used = tokens - 1.0, day_used + 1, month_used + 1
        self.state[subject] = (tokens, last_us, day_id, day_used, month_id, month_used)
        return decision


PLANS = [
    UsagePlan("a", rate_per_s=10.0, burst=3),
    UsagePlan("b", rate_per_s=0.5, burst=2, quota_per_day=7),
    UsagePlan("c", rate_per_s=1000.0, burst=50, quota_per_day=20, quota_per_month=30),
    UsagePlan("d", rate_per_s=0.001, burst=1, quota_per_month=4),
]


@pytest.mark.parametrize("seed", range(8))
def test_every_decision_matches_the_rule(seed: int) -> None:
    rng = random.Random(seed)
    fast, rule = InMemoryRateLimiter(), RuleOnly()
    # Late on the last day of a month, so steps cross midnight and the month's end.
    now = epoch_us(datetime(2025, 1, 31, 23, 59, 30, tzinfo=UTC))
    for _ in range(3000):
        now += rng.choice([0, 0, 1, 1_000, 100_000, 700_000, 3_600_000_000, -2_000_000])
        plan = rng.choice(PLANS)
        assert fast.acquire(plan.subject, plan, now) == rule.acquire(plan.subject, plan, now)
