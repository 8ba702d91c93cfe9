"""The ``ModelRuntime`` role: one per model format, saving, adopting and loading models."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

Tensors = Mapping[str, NDArray[np.generic]]
"""Named arrays, as the Open Inference Protocol carries them."""


@dataclass(frozen=True, slots=True)
class LoadOptions:
    """What a load may trust.

    ``trusted_types`` extends the built-in allow-list of the skops loader (full dotted type names);
    ``allow_pickle`` permits formats that run arbitrary code on load (pickle/joblib). Both are
    explicit opt-ins: the defaults load nothing a malicious artifact could use to run code.
    ``prefer_fast`` uses a verified accelerated form when the package has one (the ONNX graph
    stored at registration, see ``runtimes.fast_path``) instead of the framework's own.
    """

    trusted_types: tuple[str, ...] = ()
    allow_pickle: bool = False
    prefer_fast: bool = False


class LoadedModel(Protocol):
    """A model in memory, ready to predict."""

    def predict(self, inputs: Tensors) -> dict[str, NDArray[np.generic]]:
        """Predict from named input tensors; returns named output tensors.

        Tabular models accept either a single 2-D tensor (rows x features) or one 1-D tensor per
        feature column.
        """
        ...


class ModelRuntime(Protocol):
    """Save/adopt/load for one model format. Implementations import their framework lazily."""

    name: str
    """The format name recorded on versions (``sklearn``, ``onnx``, ...)."""

    file_suffixes: tuple[str, ...]
    """File endings this format is recognised by when registering a file (``.onnx``)."""

    def can_save(self, obj: object) -> bool:
        """Whether ``obj`` is a model this runtime knows how to save (cheap: no heavy imports)."""
        ...

    def save(self, obj: object, dest: Path) -> None:
        """Write ``obj`` into the empty directory ``dest`` in this format."""
        ...

    def adopt(self, source: Path, dest: Path) -> None:
        """Copy an existing model file or folder in this format into the empty directory ``dest``.

        Raises ``UnsupportedModelError`` if ``source`` is not a readable model of this format.
        """
        ...

    def load(self, path: Path, options: LoadOptions) -> LoadedModel:
        """Load a model from a directory written by ``save`` or ``adopt``."""
        ...
