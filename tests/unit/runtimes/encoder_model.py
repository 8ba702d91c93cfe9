"""An example user model for the python runtime: encodes category strings as integer codes.

Kept in its own module (not a test file) because the python runtime imports model classes by
entry point; tests put this folder on ``sys.path`` and import it as ``encoder_model``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray


class CategoryEncoder:
    """Maps each known category to its index; unknown categories map to -1."""

    def __init__(self, categories: Sequence[str]) -> None:
        self.categories = list(categories)

    def predict(self, inputs: Mapping[str, NDArray[np.generic]]) -> Mapping[str, NDArray[np.int64]]:
        index = {category: code for code, category in enumerate(self.categories)}
        values = inputs["category"]
        return {"code": np.asarray([index.get(str(v), -1) for v in values], dtype=np.int64)}

    def save(self, path: Path) -> None:
        (path / "encoding.json").write_text(json.dumps(self.categories), encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> CategoryEncoder:
        return cls(json.loads((path / "encoding.json").read_text(encoding="utf-8")))
