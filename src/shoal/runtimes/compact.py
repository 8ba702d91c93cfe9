"""The compact fast paths: scikit-learn models held as a few NumPy arrays, same bits out.

A model whose class has a compact form (isolation forests, gradient boosting, logistic and
linear regression) is stored at registration as one file of arrays, ``fast/compact.bin``, after
``fast_path.convert`` checked it against the original. The file is a magic line, a JSON header
naming the form and each array's dtype, shape and offset, then the arrays' bytes: loading reads
it in one call and views the arrays in place (``np.frombuffer``; read-only, no copy, no code
run, nothing to unpickle), ~10x faster than an ``.npz`` (a zip, parsed member by member), which
matters because a cache miss pays it. Forests stored as ``compact_forest.npz`` by earlier
versions still load. Against an onnxruntime session of the same model a compact form holds
10-60x less memory and loads in a fraction of a millisecond; a row takes about as long, up to
twice as long for boosted trees (``bench/serving/bench_fast_path.py`` prints both).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from shoal.runtimes import compact_boosting, compact_forest, compact_linear
from shoal.runtimes.compact_common import Arrays, CompactModel
from shoal.runtimes.compact_trees import layout

FILE = "compact.bin"
MAGIC = b"SHOAL-COMPACT 1\n"
_ALIGN = 16
LEGACY_FOREST_FILE = "compact_forest.npz"


@dataclass(frozen=True, slots=True)
class CompactForm:
    """One kind of model with a compact form: how to recognise, compile, store and load it."""

    key: str
    """How the file names the form."""
    name: str
    accepts: Callable[[object], bool]
    compile: Callable[[object, int], Arrays]
    """The arrays of a fitted model with ``columns`` inputs; raises when it has no such form."""
    model: Callable[[Arrays, Sequence[str] | None], CompactModel]


FORMS = (
    CompactForm(
        "isolation_forest",
        "isolation forest",
        compact_forest.is_isolation_forest,
        compact_forest.compile_forest,
        compact_forest.CompactForest,
    ),
    CompactForm(
        "gradient_boosting",
        "gradient-boosted trees",
        compact_boosting.is_gradient_boosting,
        compact_boosting.compile_boosting,
        compact_boosting.CompactBoosting,
    ),
    CompactForm(
        "linear",
        "linear model",
        compact_linear.is_linear_model,
        compact_linear.compile_linear,
        compact_linear.CompactLinear,
    ),
)


def form_of(model: object) -> CompactForm | None:
    """The compact form for ``model``'s class, if there is one."""
    return next((form for form in FORMS if form.accepts(model)), None)


def save(
    folder: Path, form: CompactForm, arrays: Arrays, feature_names: Sequence[str] | None = None
) -> None:
    """Write ``arrays`` (and the names of the columns the model was fitted on, if any) as
    ``folder/compact.bin`` (see the module docstring)."""
    entries, chunks, offset = [], [], 0
    for name, value in arrays.items():
        array = np.ascontiguousarray(value)
        if array.dtype.hasobject:
            raise ValueError(f"array {name!r} holds Python objects; compact files hold numbers")
        entries.append([name, array.dtype.str, list(array.shape), offset])
        data = array.tobytes()
        padding = -len(data) % _ALIGN
        chunks.append(data + b"\0" * padding)
        offset += len(data) + padding
    names = None if feature_names is None else [str(n) for n in feature_names]
    header = json.dumps({"form": form.key, "feature_names": names, "arrays": entries}).encode()
    header += b" " * (-(len(MAGIC) + 8 + len(header)) % _ALIGN)
    size = len(header).to_bytes(8, "little")
    (folder / FILE).write_bytes(MAGIC + size + header + b"".join(chunks))


def _read(file: Path) -> tuple[str, list[str] | None, Arrays]:
    data = file.read_bytes()
    if not data.startswith(MAGIC):
        raise ValueError(f"{file.name} is not a compact model file")
    start = len(MAGIC) + 8
    size = int.from_bytes(data[len(MAGIC) : start], "little")
    header = json.loads(data[start : start + size])
    base = start + size
    arrays: Arrays = {}
    for name, dtype, shape, offset in header["arrays"]:
        kind = np.dtype(dtype)
        if kind.hasobject:
            raise ValueError(f"array {name!r} of {file.name} would hold Python objects")
        count = int(np.prod(shape, dtype=np.int64))
        array = np.frombuffer(data, dtype=kind, count=count, offset=base + int(offset))
        arrays[str(name)] = array.reshape(shape)
    names = header.get("feature_names")
    return str(header["form"]), None if names is None else [str(n) for n in names], arrays


def load(folder: Path) -> CompactModel | None:
    """The compact model stored in ``folder`` (a package's ``fast/``), None if it has none;
    ``ValueError``/``OSError``/``KeyError`` when the file is damaged."""
    file = folder / FILE
    if not file.is_file():
        return None
    key, feature_names, arrays = _read(file)
    form = next((f for f in FORMS if f.key == key), None)
    if form is None:
        raise ValueError(f"{file.name} holds an unknown form {key!r}")
    return form.model(arrays, feature_names)


def load_legacy(folder: Path, feature_names: Sequence[str] | None) -> CompactModel | None:
    """A forest Shoal stored before ``compact.bin`` (``compact_forest.npz``: the flat arrays
    before ``layout``), None if there is none."""
    legacy = folder / LEGACY_FOREST_FILE
    if not legacy.is_file():
        return None
    with np.load(legacy, allow_pickle=False) as data:
        stored = {key: data[key] for key in data.files}
    return compact_forest.CompactForest(
        {**layout(stored), "params": stored["params"]}, feature_names
    )
