"""The ``runtime.json`` manifest a runtime writes beside its model file, and its JSON values."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from shoal.errors import RuntimeLoadError

MANIFEST_NAME = "runtime.json"


def write_manifest(dest: Path, fields: Mapping[str, object]) -> None:
    """Write ``fields`` as ``dest/runtime.json`` (sorted keys, so equal models give equal bytes)."""
    text = json.dumps(dict(fields), indent=2, sort_keys=True)
    (dest / MANIFEST_NAME).write_text(text + "\n", encoding="utf-8")


def read_manifest(path: Path, fmt: str) -> dict[str, object]:
    """Read ``path/runtime.json``; an absent manifest reads as empty (adopted, older artifacts)."""
    file = path / MANIFEST_NAME
    if not file.is_file():
        return {}
    try:
        raw = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise RuntimeLoadError(f"{fmt}: cannot read {file}: {exc}") from exc
    if not isinstance(raw, dict):
        raise RuntimeLoadError(f"{fmt}: {file} must hold a JSON object")
    return raw


def names_field(value: object) -> list[str] | None:
    """A manifest list of names, or None when absent."""
    if not isinstance(value, list):
        return None
    return [str(item) for item in value]


def labels_to_json(labels: Sequence[object] | NDArray[np.generic]) -> dict[str, object]:
    """Class labels with their dtype, so loading restores ``classes_`` exactly (ints stay ints)."""
    array = np.asarray(labels)
    values: list[object] = [_scalar(item) for item in array]
    return {"values": values, "dtype": array.dtype.str if array.dtype.kind != "O" else "object"}


def _scalar(item: object) -> object:
    if isinstance(item, np.generic):
        item = item.item()
    return item if isinstance(item, str | int | float | bool) else str(item)


def labels_from_json(value: object) -> NDArray[np.generic] | None:
    """The inverse of :func:`labels_to_json`; None when absent."""
    if not isinstance(value, dict) or not isinstance(value.get("values"), list):
        return None
    return np.asarray(value["values"], dtype=np.dtype(str(value.get("dtype", "object"))))
