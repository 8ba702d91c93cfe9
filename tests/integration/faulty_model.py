"""A python-format model whose predict always raises (a model that fails at serving time)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
from numpy.typing import NDArray


class FaultyModel:
    def save(self, path: Path) -> None:
        (path / "marker.txt").write_text("faulty")

    @classmethod
    def load(cls, path: Path) -> FaultyModel:
        return cls()

    def predict(self, inputs: Mapping[str, NDArray[np.generic]]) -> dict[str, NDArray[np.generic]]:
        raise ZeroDivisionError("this model always fails")
