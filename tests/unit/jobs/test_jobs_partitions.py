import os

import numpy as np
import pandas as pd
import pytest

from shoal.errors import ValidationError
from shoal.jobs.partitions import map_partitions, split


@pytest.fixture
def events() -> pd.DataFrame:
    return pd.DataFrame(
        {"customer": np.repeat(["a", "b", "c", "d", "e"], [50, 40, 30, 20, 10]), "x": range(150)}
    )


def test_a_frame_is_spread_over_worker_processes_and_put_back_in_order(
    events: pd.DataFrame,
) -> None:
    out = map_partitions(events, lambda part: part.assign(pid=os.getpid(), y=part.x * 2), workers=2)
    assert out["x"].tolist() == list(range(150))
    assert (out["y"] == out["x"] * 2).all()
    assert out["pid"].nunique() == 2
    assert os.getpid() not in set(out["pid"])


def test_splitting_by_a_column_keeps_each_group_in_one_piece(events: pd.DataFrame) -> None:
    pieces = split(events, 3, by="customer")
    owners = {c: i for i, piece in enumerate(pieces) for c in piece["customer"].unique()}
    assert sorted(owners) == ["a", "b", "c", "d", "e"]
    assert sum(len(piece) for piece in pieces) == len(events)
    assert max(len(p) for p in pieces) - min(len(p) for p in pieces) <= 20
    out = map_partitions(events, lambda p: p.groupby("customer")[["x"]].sum(), by="customer")
    assert out["x"].sort_index().tolist() == events.groupby("customer")["x"].sum().tolist()


def test_a_function_that_returns_no_frame_is_a_clear_error(events: pd.DataFrame) -> None:
    with pytest.raises(ValidationError, match="must return a DataFrame or Series"):
        map_partitions(events, len, workers=1)  # type: ignore[arg-type,return-value]
