"""Retry delays and budgets; outputs stored by type and read back identically, never pickled."""

from __future__ import annotations

import random

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression

from shoal.errors import ValidationError
from shoal.pipelines import Retry, values
from shoal.pipelines.environment import StepEnvironment
from shoal.pipelines.retry import error_lineage, is_transient


def test_backoff_grows_exponentially_up_to_the_cap_and_jitter_only_shortens() -> None:
    policy = Retry(attempts=6, backoff_s=1.0, multiplier=2.0, max_delay_s=5.0, jitter=0.0)
    assert [policy.delay_s(a) for a in range(1, 6)] == [1.0, 2.0, 4.0, 5.0, 5.0]
    jittered = Retry(backoff_s=4.0, jitter=0.5)
    rng = random.Random(1)
    delays = [jittered.delay_s(1, rng) for _ in range(200)]
    assert min(delays) >= 2.0
    assert max(delays) <= 4.0
    assert len(set(delays)) > 100


def test_a_retry_budget_is_a_count_or_a_share_of_the_items() -> None:
    assert Retry(budget=5).budget_for(1000) == 5
    assert Retry(budget=0.1).budget_for(1000) == 100
    assert Retry().budget_for(1000) is None
    with pytest.raises(ValidationError, match="attempts must be at least 1"):
        Retry(attempts=0)


def test_transient_errors_match_their_subclasses_by_name() -> None:
    policy = Retry(transient=(ConnectionError, "builtins.KeyError"))
    assert is_transient(error_lineage(ConnectionResetError()), policy.transient_names)
    assert is_transient(error_lineage(KeyError("x")), policy.transient_names)
    assert not is_transient(error_lineage(ValueError()), policy.transient_names)


@pytest.mark.parametrize(
    "value",
    [
        {"b": [1, 2.5, None], "a": "x"},
        pd.DataFrame({"x": [1.0, 2.0], "name": ["a", "b"]}, index=[10, 20]),
        pd.Series([1, 2, 3], name="calls"),
        np.arange(12, dtype=np.float32).reshape(3, 4),
        b"\x00raw bytes" * 500,
    ],
    ids=["json", "frame", "series", "array", "bytes"],
)
def test_values_round_trip_by_type_with_a_stable_digest(
    value: object, env: StepEnvironment
) -> None:
    first, second = values.store(value, env), values.store(value, env)
    assert first.digest == second.digest
    back = values.load(first, env)
    if isinstance(value, pd.DataFrame):
        pd.testing.assert_frame_equal(back, value)  # type: ignore[arg-type]
    elif isinstance(value, pd.Series):
        pd.testing.assert_series_equal(back, value)  # type: ignore[arg-type]
    elif isinstance(value, np.ndarray):
        np.testing.assert_array_equal(back, value)  # type: ignore[arg-type]
    else:
        assert back == value


def test_large_values_go_to_the_artifact_store_and_small_ones_inline(
    env: StepEnvironment,
) -> None:
    small = values.store([1, 2, 3], env)
    large = values.store(list(range(5000)), env)
    assert small.inline == b"[1,2,3]"
    assert not env.artifacts.exists(small.digest)
    assert large.inline is None
    assert env.artifacts.exists(large.digest)


def test_a_model_output_is_stored_in_its_registry_format_and_loads_back(
    env: StepEnvironment,
) -> None:
    x = np.arange(20, dtype=np.float64).reshape(10, 2)
    model = LinearRegression().fit(x, x[:, 0] * 2)
    ref = values.store(model, env)
    assert ref.format == "model:sklearn"
    assert values.store(model, env).digest == ref.digest
    back = values.load(ref, env)
    assert isinstance(back, LinearRegression)
    np.testing.assert_allclose(back.predict(x), model.predict(x))


def test_values_that_would_need_pickle_are_refused(env: StepEnvironment) -> None:
    with pytest.raises(ValidationError, match="object array"):
        values.store(np.array([object()]), env)
    with pytest.raises(ValidationError, match=r"cannot store a builtins\.object"):
        values.store(object(), env)
