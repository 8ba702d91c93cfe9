"""Where predictions run: the cost estimate per model, and how measurements move it."""

from __future__ import annotations

import pytest

from shoal.serving.costs import INLINE_PREDICT_S, PROBE_BELOW_S, PROBE_EVERY, PredictCosts

QUICK = INLINE_PREDICT_S / 5
SLOW = INLINE_PREDICT_S * 2.5  # over the bound, under the probing bound


def test_an_unknown_model_runs_on_a_thread_then_inline_once_measured_quick() -> None:
    costs = PredictCosts()
    assert not costs.inline("m", rows=1)
    costs.learn("m", QUICK, inline=False)
    assert costs.inline("m", rows=1)
    assert not costs.inline("m", rows=10)  # 10 rows: over the bound


def test_a_model_that_states_a_bound_runs_inline_before_it_is_measured() -> None:
    costs = PredictCosts()
    assert costs.inline("m", rows=1, prior_per_row_s=QUICK)
    assert not costs.inline("m", rows=10, prior_per_row_s=QUICK)  # 10 rows: over the bound
    costs.learn("m", SLOW, inline=True)
    assert not costs.inline("m", rows=1, prior_per_row_s=QUICK)  # a measurement wins


def test_thread_measurements_only_lower_the_estimate() -> None:
    costs = PredictCosts()
    costs.learn("m", SLOW * 2, inline=False)  # first measured under contention
    for measured in (SLOW * 1.5, SLOW * 3, SLOW):
        costs.learn("m", measured, inline=False)
    assert costs.estimate("m") == pytest.approx(SLOW)
    costs.learn("m", QUICK, inline=False)  # one uncontended run shows what it really costs
    assert costs.inline("m", rows=1)


def test_a_model_on_the_threads_is_probed_inline_now_and_then() -> None:
    costs = PredictCosts()
    costs.learn("m", SLOW, inline=False)
    decisions = [costs.inline("m", rows=1) for _ in range(PROBE_EVERY * 3)]
    assert decisions.count(True) == 3
    costs.learn("m", QUICK, inline=True)  # the probe found it quick inline
    assert costs.inline("m", rows=1)
    costs.learn("huge", PROBE_BELOW_S * 2, inline=False)  # never blocks the loop to probe
    assert not any(costs.inline("huge", rows=1) for _ in range(PROBE_EVERY * 3))


def test_inline_measurements_average_and_a_preempted_run_counts_four_times_at_most() -> None:
    costs = PredictCosts()
    costs.learn("m", QUICK, inline=False)
    costs.learn("m", QUICK / 2, inline=True)  # lower: taken as it is
    assert costs.estimate("m") == pytest.approx(QUICK / 2)
    costs.learn("m", 1.0, inline=True)  # preempted for a second: counts as 4 x the estimate
    assert costs.estimate("m") == pytest.approx(0.8 * QUICK / 2 + 0.2 * 4 * QUICK / 2)
    assert costs.inline("m", rows=1)
    for _ in range(30):  # a model that really became slow moves to the threads
        costs.learn("m", PROBE_BELOW_S * 2, inline=True)
    assert costs.estimate("m") > INLINE_PREDICT_S
    assert not costs.inline("m", rows=1)
