"""The segmented GreedyDual-Size-Frequency policy, as pure bookkeeping."""

from __future__ import annotations

import random

import pytest

from shoal.serving.policy import Segment, SegmentedGdsfPolicy, gdsf_priority


def everything(_key: str) -> bool:
    return True


def evict_one(policy: SegmentedGdsfPolicy) -> str:
    victim = next(policy.victims(everything))
    policy.evicted(victim)
    return victim


def test_priority_grows_with_use_and_load_cost_and_shrinks_with_size() -> None:
    base = gdsf_priority(0.0, 1, 1.0, 100)
    assert gdsf_priority(0.0, 2, 1.0, 100) > base
    assert gdsf_priority(0.0, 1, 2.0, 100) > base
    assert gdsf_priority(0.0, 1, 1.0, 200) < base
    assert gdsf_priority(5.0, 1, 1.0, 100) == 5.0 + base
    # An instant load still has a cost, so size keeps ordering free-to-load models.
    assert gdsf_priority(0.0, 1, 0.0, 100) > gdsf_priority(0.0, 1, 0.0, 200)


def test_a_scan_of_ten_times_the_capacity_leaves_the_hot_set_in_place() -> None:
    policy = SegmentedGdsfPolicy(1000, protected_ratio=0.8)
    hot = [f"hot{i}" for i in range(4)]
    now = 0.0
    for key in hot:
        policy.admit(key, 100, 0.5, now)
        for _ in range(3):
            now += 1
            policy.touch(key, now)
    resident = 400
    for i in range(100):
        now += 1
        if resident + 100 > 1000:
            evict_one(policy)
            resident -= 100
        policy.admit(f"cold{i}", 100, 0.5, now)
        resident += 100
    assert all(key in policy for key in hot)
    assert len(policy) == 10


def test_with_equal_use_the_larger_entry_is_the_first_victim() -> None:
    policy = SegmentedGdsfPolicy(10_000)
    policy.admit("large", 500, 1.0, now=1.0)
    policy.admit("small", 200, 1.0, now=0.0)
    assert next(policy.victims(everything)) == "large"


def test_an_expensive_to_load_entry_outranks_a_cheap_one() -> None:
    policy = SegmentedGdsfPolicy(10_000)
    policy.admit("expensive", 400, 10.0, now=0.0)
    policy.admit("cheap", 400, 0.1, now=1.0)
    assert list(policy.victims(everything)) == ["cheap", "expensive"]


def test_among_equals_the_least_recently_used_goes_first() -> None:
    policy = SegmentedGdsfPolicy(10_000)
    for now, key in enumerate(["a", "b", "c"]):
        policy.admit(key, 100, 1.0, float(now))
    assert list(policy.victims(everything)) == ["a", "b", "c"]


def test_a_later_admission_starts_from_the_inflated_baseline() -> None:
    policy = SegmentedGdsfPolicy(10_000)
    policy.admit("old", 100, 1.0, 0.0)
    policy.admit("gone", 100, 1.0, 1.0)
    evict_one(policy)  # "old": equal value, older
    assert policy.inflation == gdsf_priority(0.0, 1, 1.0, 100)
    policy.admit("young", 100, 1.0, 2.0)
    assert list(policy.victims(everything)) == ["gone", "young"]


def test_the_second_use_promotes_to_protected_which_is_evicted_last() -> None:
    policy = SegmentedGdsfPolicy(10_000)
    policy.admit("valuable", 100, 100.0, 0.0)
    policy.admit("twice", 1000, 0.1, 1.0)
    assert policy.find("twice").segment is Segment.PROBATION  # type: ignore[union-attr]
    policy.touch("twice", 2.0)
    assert policy.find("twice").segment is Segment.PROTECTED  # type: ignore[union-attr]
    assert policy.protected_bytes == 1000
    assert list(policy.victims(everything)) == ["valuable", "twice"]


def test_protected_overflow_demotes_its_least_valuable_entry_to_probation() -> None:
    policy = SegmentedGdsfPolicy(1000, protected_ratio=0.5)  # protected holds 500 bytes
    for now, key in enumerate(["a", "b", "c"]):
        policy.admit(key, 200, 1.0, float(now))
    for now, key in enumerate(["a", "b", "b", "c"], start=10):
        policy.touch(key, float(now))
    segments = {key: policy.find(key).segment for key in "abc"}  # type: ignore[union-attr]
    assert segments == {"a": Segment.PROBATION, "b": Segment.PROTECTED, "c": Segment.PROTECTED}
    assert policy.protected_bytes == 400
    assert next(policy.victims(everything)) == "a"


def test_victims_skip_what_the_cache_must_keep() -> None:
    policy = SegmentedGdsfPolicy(10_000)
    for now, key in enumerate(["pinned", "leased", "free"]):
        policy.admit(key, 100, 1.0, float(now))
    assert list(policy.victims(lambda key: key == "free")) == ["free"]


def test_removing_an_entry_leaves_the_inflation_alone() -> None:
    policy = SegmentedGdsfPolicy(10_000)
    policy.admit("a", 100, 1.0, 0.0)
    policy.touch("a", 1.0)
    policy.remove("a")
    assert "a" not in policy
    assert (policy.inflation, policy.protected_bytes) == (0.0, 0)


def test_ranking_lists_the_most_valuable_first() -> None:
    policy = SegmentedGdsfPolicy(10_000)
    policy.admit("once", 100, 1.0, 0.0)
    policy.admit("twice", 100, 1.0, 1.0)
    policy.touch("twice", 2.0)
    policy.admit("expensive-once", 100, 9.0, 3.0)
    assert policy.ranking() == ["twice", "expensive-once", "once"]


@pytest.mark.parametrize(("capacity", "ratio"), [(0, 0.8), (100, 1.5), (100, -0.1)])
def test_a_policy_refuses_nonsense_settings(capacity: int, ratio: float) -> None:
    with pytest.raises(ValueError, match="must be"):
        SegmentedGdsfPolicy(capacity, ratio)


def test_victims_come_in_the_same_order_as_sorting_every_entry_by_rank() -> None:
    # The heaps are an optimisation: after any mix of admissions, touches, removals and
    # evictions, the order must be exactly the full sort's (probation first, then protected).
    rng = random.Random(11)
    policy = SegmentedGdsfPolicy(capacity_bytes=5_000, protected_ratio=0.5)
    now = 0.0
    for step in range(3_000):
        now += 1.0
        key = f"m{rng.randrange(200)}"
        roll = rng.random()
        if key not in policy:
            policy.admit(key, rng.randrange(1, 400), rng.random() / 10, now)
        elif roll < 0.7:
            policy.touch(key, now)
        elif roll < 0.85:
            policy.remove(key)
        else:
            policy.evicted(key)
        if step % 50 == 0:
            keep = {f"m{rng.randrange(200)}" for _ in range(5)}
            entries = [policy.find(key) for key in policy.ranking()]
            expected = [
                entry.key
                for segment in (Segment.PROBATION, Segment.PROTECTED)
                for entry in sorted(
                    (e for e in entries if e is not None and e.segment is segment),
                    key=lambda e: e.rank(),
                )
                if entry.key not in keep
            ]
            assert list(policy.victims(lambda k, keep=keep: k not in keep)) == expected
            # A partly consumed iteration leaves the order intact.
            next(policy.victims(everything), None)
            assert list(policy.victims(lambda k, keep=keep: k not in keep)) == expected
