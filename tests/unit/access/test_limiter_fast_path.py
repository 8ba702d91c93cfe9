"""The in-process limiters decide exactly as the rule (``refill`` + ``decide``): the Python one's
inline hot path, and the C one (``_buckets.c``) with its own calendar arithmetic."""

from __future__ import annotations

import random
import shutil
import sys
import threading
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from shoal.access.limiter import PythonRateLimiter, decide, in_memory_limiter, refill
from shoal.access.records import Decision, UsagePlan
from shoal.access.store import RateLimiter
from shoal.access.windows import epoch_us, windows_at


def native() -> RateLimiter:
    module = pytest.importorskip("shoal.access.native_limiter", reason="not built (no cc)")
    limiter: RateLimiter = module.NativeRateLimiter()
    return limiter


LIMITERS: dict[str, Callable[[], RateLimiter]] = {"python": PythonRateLimiter, "c": native}


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


@pytest.mark.parametrize("kind", LIMITERS)
@pytest.mark.parametrize("seed", range(8))
def test_every_decision_matches_the_rule(kind: str, seed: int) -> None:
    rng = random.Random(seed)
    fast, rule = LIMITERS[kind](), RuleOnly()
    # Late on the last day of a month, so steps cross midnight and the month's end.
    now = epoch_us(datetime(2025, 1, 31, 23, 59, 30, tzinfo=UTC))
    for _ in range(3000):
        now += rng.choice([0, 0, 1, 1_000, 100_000, 700_000, 3_600_000_000, -2_000_000])
        plan = rng.choice(PLANS)
        assert fast.acquire(plan.subject, plan, now) == rule.acquire(plan.subject, plan, now)


@pytest.mark.parametrize("kind", LIMITERS)
def test_quota_windows_match_the_calendar_over_four_centuries(kind: str) -> None:
    """Random instants from 1970 to 2400 (leap years, century years, month ends): a quota of
    one a day and two a month admits exactly what the calendar says, and usage agrees."""
    rng = random.Random(7)
    fast, rule = LIMITERS[kind](), RuleOnly()
    plan = UsagePlan("q", rate_per_s=1e6, burst=1_000_000, quota_per_day=1, quota_per_month=2)
    end = epoch_us(datetime(2400, 12, 31, tzinfo=UTC))
    edges = [epoch_us(datetime(y, m, 1, tzinfo=UTC)) for y in (2000, 2100, 2024) for m in (2, 3)]
    now = 0
    for step in range(4000):
        if step % 3 == 0:
            now = rng.randrange(0, end)
        elif step % 3 == 1:
            now = rng.choice(edges) + rng.choice([-1, 0, 1])
        else:
            now += rng.choice([1, 86_400_000_000, 20 * 86_400_000_000])
        assert fast.acquire("q", plan, now) == rule.acquire("q", plan, now), now
        day, month = (u.used for u in fast.usage("q", plan, now))
        _, _, day_id, day_used, month_id, month_used = rule.state["q"]
        windows = windows_at(now)
        assert day == (day_used if day_id == windows.day_id else 0)
        assert month == (month_used if month_id == windows.month_id else 0)


@pytest.mark.parametrize("kind", LIMITERS)
def test_a_changed_plan_applies_at_once(kind: str) -> None:
    limiter = LIMITERS[kind]()
    now = epoch_us(datetime(2025, 6, 1, tzinfo=UTC))
    tight = UsagePlan("acme", rate_per_s=1.0, burst=2, quota_per_day=3)
    assert [limiter.acquire("acme", tight, now).allowed for _ in range(3)] == [True, True, False]
    # The same subject, a new plan object: its limits count from the next request on.
    looser = UsagePlan("acme", rate_per_s=1.0, burst=5, quota_per_day=4)
    later = now + 10_000_000  # 10 s: the bucket refills to the new burst
    decisions = [limiter.acquire("acme", looser, later) for _ in range(3)]
    assert [d.allowed for d in decisions] == [True, True, False]
    assert decisions[-1].reason == "quota_per_day"
    assert [u.used for u in limiter.usage("acme", looser, later)] == [4, 4]


@pytest.mark.parametrize("kind", LIMITERS)
def test_threads_switching_plans_get_exactly_the_quota(kind: str) -> None:
    """Eight threads, each alternating two plan objects with the same limits (so the C limiter
    rereads a plan, running Python, on most calls), with the GIL handed over as often as it
    can be: exactly the quota is let in, and counted."""
    limiter = LIMITERS[kind]()
    twins = [UsagePlan("acme", rate_per_s=1e6, burst=10**6, quota_per_day=500) for _ in "ab"]
    now = epoch_us(datetime(2025, 6, 1, tzinfo=UTC))
    allowed: list[int] = []
    barrier = threading.Barrier(8)

    def work() -> None:
        barrier.wait()
        mine = sum(limiter.acquire("acme", twins[i % 2], now + i).allowed for i in range(200))
        allowed.append(mine)

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        threads = [threading.Thread(target=work) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    assert sum(allowed) == 500
    assert [u.used for u in limiter.usage("acme", twins[0], now + 200)] == [500, 500]


def test_the_c_limiter_refuses_what_could_run_python_inside_it() -> None:
    limiter = native()

    class Name(str):
        __slots__ = ()

    plan = UsagePlan("acme", rate_per_s=1.0, burst=1)
    with pytest.raises(TypeError, match="subject must be a str"):
        limiter.acquire(Name("acme"), plan, 0)
    with pytest.raises(TypeError, match="takes 3 arguments"):
        limiter.acquire("acme", plan)  # type: ignore[call-arg]
    bare = type(limiter).__new__(type(limiter))  # __init__ never ran
    with pytest.raises(RuntimeError, match="__init__ was not called"):
        bare.acquire("acme", plan, 0)


def test_the_c_limiter_serves_wherever_a_compiler_built_it() -> None:
    if shutil.which("cc") is None and shutil.which("gcc") is None:
        pytest.skip("no C compiler here: the Python limiter serves")
    assert type(in_memory_limiter()).__name__ == "NativeRateLimiter"


def test_without_the_c_extension_the_python_limiter_serves(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """As on a machine with no C compiler: the extension cannot be imported."""
    import shoal.access

    monkeypatch.setitem(sys.modules, "shoal.access._buckets", None)  # import -> ImportError
    monkeypatch.delitem(sys.modules, "shoal.access.native_limiter", raising=False)
    monkeypatch.delattr(shoal.access, "_buckets", raising=False)
    monkeypatch.delattr(shoal.access, "native_limiter", raising=False)
    limiter = in_memory_limiter()
    assert isinstance(limiter, PythonRateLimiter)
    plan = UsagePlan("acme", rate_per_s=1.0, burst=1)
    assert [limiter.acquire("acme", plan, 0).allowed for _ in range(2)] == [True, False]
