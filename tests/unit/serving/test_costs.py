"""Where predictions run: the cost estimate per model, and how measurements move it."""

from __future__ import annotations

import pytest

from shoal.serving.costs import INLINE_PREDICT_S, PredictCosts


def test_an_unknown_model_runs_on_a_thread_then_inline_once_measured_quick() -> None:
    costs = PredictCosts()
    assert not costs.inline("m", rows=1)
    costs.learn("m", 20e-6, inline=False)
    assert costs.inline("m", rows=1)
    assert not costs.inline("m", rows=10)  # 10 rows at 20 µs: over the 100 µs bound


def test_thread_measurements_only_lower_the_estimate() -> None:
    costs = PredictCosts()
    costs.learn("m", 250e-6, inline=False)  # first measured under contention
    for measured in (180e-6, 260e-6, 150e-6):
        costs.learn("m", measured, inline=False)
    assert costs.estimate("m") == pytest.approx(150e-6)
    assert not costs.inline("m", rows=1)
    costs.learn("m", 30e-6, inline=False)  # one uncontended run shows what it really costs
    assert costs.inline("m", rows=1)


def test_inline_measurements_average_and_a_preempted_run_counts_four_times_at_most() -> None:
    costs = PredictCosts()
    costs.learn("m", 20e-6, inline=False)
    costs.learn("m", 5e-3, inline=True)  # preempted: capped at 80 µs
    assert costs.estimate("m") == pytest.approx(0.8 * 20e-6 + 0.2 * 80e-6)
    assert costs.inline("m", rows=1)
    for _ in range(30):  # a model that really became slow moves to the threads
        costs.learn("m", 400e-6, inline=True)
    assert costs.estimate("m") > INLINE_PREDICT_S
    assert not costs.inline("m", rows=1)
