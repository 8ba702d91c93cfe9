from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray
from sklearn.linear_model import LogisticRegression

from shoal.client import Client
from shoal.settings import Settings


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path / "home")


@pytest.fixture
def client(settings: Settings) -> Iterator[Client]:
    with Client(settings, actor="tester") as shoal:
        shoal.create_tenant("acme")
        yield shoal


@pytest.fixture
def features() -> NDArray[np.float64]:
    return np.random.default_rng(0).normal(size=(200, 4))


def fit_classifier(x: NDArray[np.float64], seed: int = 0) -> LogisticRegression:
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(int)
    return LogisticRegression(C=1.0 + seed).fit(x, y)
