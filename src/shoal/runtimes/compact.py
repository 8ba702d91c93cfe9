"""The compact fast paths: scikit-learn models held as a few NumPy arrays, same bits out.

A model whose class has a compact form (isolation forests, gradient boosting, logistic and
linear regression) is stored at registration as one ``.npz`` file of arrays inside the package's
``fast/`` folder, after ``fast_path.convert`` checked it against the original. Loading reads the
arrays with ``allow_pickle=False`` (no code runs) into the form's model class. Against an
onnxruntime session of the same model a compact form holds 10-60x less memory, loads in a
fraction of a millisecond and predicts a row as fast or faster
(``bench/serving/bench_fast_path.py`` prints both).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from shoal.runtimes import compact_boosting, compact_forest, compact_linear
from shoal.runtimes.compact_common import Arrays, CompactModel

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CompactForm:
    """One kind of model with a compact form: how to recognise, compile, store and load it."""

    name: str
    file: str
    accepts: Callable[[object], bool]
    compile: Callable[[object, int], Arrays]
    """The arrays of a fitted model with ``columns`` inputs; raises when it has no such form."""
    model: Callable[[Arrays, Sequence[str] | None], CompactModel]


FORMS = (
    CompactForm(
        "isolation forest",
        compact_forest.FILE,
        compact_forest.is_isolation_forest,
        compact_forest.compile_forest,
        compact_forest.CompactForest,
    ),
    CompactForm(
        "gradient-boosted trees",
        compact_boosting.FILE,
        compact_boosting.is_gradient_boosting,
        compact_boosting.compile_boosting,
        compact_boosting.CompactBoosting,
    ),
    CompactForm(
        "linear model",
        compact_linear.FILE,
        compact_linear.is_linear_model,
        compact_linear.compile_linear,
        compact_linear.CompactLinear,
    ),
)


def form_of(model: object) -> CompactForm | None:
    """The compact form for ``model``'s class, if there is one."""
    return next((form for form in FORMS if form.accepts(model)), None)


def save(folder: Path, form: CompactForm, arrays: Arrays) -> None:
    np.savez(folder / form.file, **arrays)  # type: ignore[arg-type]


def stored_form(folder: Path) -> CompactForm | None:
    """The form whose file ``folder`` holds, if any."""
    return next((form for form in FORMS if (folder / form.file).is_file()), None)


def load(folder: Path, form: CompactForm, feature_names: Sequence[str] | None) -> CompactModel:
    """Read ``form``'s arrays from ``folder`` (no pickle) into its model class."""
    with np.load(folder / form.file, allow_pickle=False) as data:
        arrays = {key: data[key] for key in data.files}
    return form.model(arrays, feature_names)
