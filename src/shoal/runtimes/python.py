"""The ``python`` format: a user's own model class, with only its data in the artifact.

The artifact holds ``shoal-python.json`` (the entry point ``package.module:QualName``) and the
files the instance's ``save`` wrote under ``data/``. Code is never stored in or run from the
artifact: on load the entry point must name a class in an installed, importable module, which
is then trusted like any other installed code.
"""

from __future__ import annotations

import importlib
import inspect
import json
import re
import shutil
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from shoal.errors import RuntimeLoadError, UnsupportedModelError, ValidationError
from shoal.runtimes.base import LoadedModel, LoadOptions, Tensors

ENTRY_FILE = "shoal-python.json"
DATA_DIR = "data"
_ENTRY_POINT = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")


class PythonModel(Protocol):
    """What a user class provides: ``predict``, ``save`` and a ``load`` classmethod."""

    def predict(self, inputs: Mapping[str, NDArray[np.generic]]) -> Mapping[str, object]: ...

    def save(self, path: Path) -> None: ...


def is_python_model(obj: object) -> bool:
    """Whether ``obj`` follows the protocol (cheap: looks at attributes only)."""
    if isinstance(obj, type):
        return False
    load = inspect.getattr_static(type(obj), "load", None)
    return (
        callable(getattr(obj, "predict", None))
        and callable(getattr(obj, "save", None))
        and isinstance(load, classmethod)
    )


def entry_point_of(cls: type) -> str:
    """``module:QualName`` for a class, refusing classes that could not be imported back."""
    if cls.__module__ == "__main__":
        raise UnsupportedModelError(
            f"python: {cls.__qualname__} is defined in __main__ (a script or notebook), so a "
            "server could not import it; move the class into a module of an installable "
            "package and import it from there"
        )
    if "<locals>" in cls.__qualname__:
        raise UnsupportedModelError(
            f"python: {cls.__qualname__} is defined inside a function; define it at module "
            f"level in {cls.__module__}"
        )
    return f"{cls.__module__}:{cls.__qualname__}"


def resolve_entry_point(entry_point: str) -> type:
    """Import the class an entry point names; RuntimeLoadError if it is not importable."""
    if not _ENTRY_POINT.match(entry_point):
        raise ValidationError(
            f"python: entry point {entry_point!r} must look like 'package.module:ClassName'"
        )
    module_name, qualname = entry_point.split(":")
    try:
        target: object = importlib.import_module(module_name)
        for attribute in qualname.split("."):
            target = getattr(target, attribute)
    except ImportError as exc:
        raise RuntimeLoadError(
            f"python: module {module_name!r} of entry point {entry_point!r} is not importable "
            f"here; install the package that provides it: {exc}"
        ) from exc
    except AttributeError as exc:
        raise RuntimeLoadError(f"python: {entry_point!r} names nothing: {exc}") from exc
    if not isinstance(target, type) or not isinstance(
        inspect.getattr_static(target, "load", None), classmethod
    ):
        raise RuntimeLoadError(f"python: {entry_point!r} is not a class with a load classmethod")
    return target


def _read_entry_file(path: Path) -> tuple[str, str]:
    """The entry point and the data folder named in ``path/shoal-python.json``, validated."""
    file = path / ENTRY_FILE
    try:
        raw = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UnsupportedModelError(f"python: cannot read {file}: {exc}") from exc
    entry_point = raw.get("entry_point") if isinstance(raw, dict) else None
    data_dir = raw.get("data_dir", ".") if isinstance(raw, dict) else None
    if not isinstance(entry_point, str) or not _ENTRY_POINT.match(entry_point):
        raise UnsupportedModelError(
            f'python: {file} needs "entry_point": "package.module:ClassName", got {entry_point!r}'
        )
    relative = PurePosixPath(str(data_dir))
    if relative.is_absolute() or ".." in relative.parts:
        raise UnsupportedModelError(
            f"python: data_dir {data_dir!r} in {file} must be a folder inside the artifact"
        )
    return entry_point, str(relative)


class PythonLoadedModel:
    """An instance of a user class; its outputs are checked and turned into arrays."""

    def __init__(self, instance: PythonModel, entry_point: str) -> None:
        self._instance = instance
        self._entry_point = entry_point

    def predict(self, inputs: Tensors) -> dict[str, NDArray[np.generic]]:
        try:
            outputs = self._instance.predict(inputs)
        except ValidationError:
            raise
        except Exception as exc:
            raise RuntimeLoadError(f"python: {self._entry_point}.predict failed: {exc}") from exc
        if not isinstance(outputs, Mapping):
            raise RuntimeLoadError(
                f"python: {self._entry_point}.predict must return a mapping of name to array, "
                f"got {type(outputs).__name__}"
            )
        return {str(name): np.asarray(value) for name, value in outputs.items()}


class PythonRuntime:
    """Save, adopt and load user model classes by entry point."""

    name = "python"
    file_suffixes: tuple[str, ...] = ()

    def can_save(self, obj: object) -> bool:
        return is_python_model(obj)

    def save(self, obj: object, dest: Path) -> None:
        if not is_python_model(obj):
            raise UnsupportedModelError(
                f"python: a {type(obj).__name__} lacks predict(inputs), save(path) and a "
                "load(path) classmethod"
            )
        entry_point = entry_point_of(type(obj))
        try:
            imports_back = resolve_entry_point(entry_point) is type(obj)
        except RuntimeLoadError as exc:
            raise UnsupportedModelError(str(exc)) from exc
        if not imports_back:
            raise UnsupportedModelError(f"python: {entry_point} does not import back as itself")
        data = dest / DATA_DIR
        data.mkdir()
        try:
            getattr(obj, "save")(data)  # noqa: B009 - obj is typed as object
        except Exception as exc:
            raise RuntimeLoadError(f"python: {entry_point}.save failed: {exc}") from exc
        entry = {"entry_point": entry_point, "data_dir": DATA_DIR}
        (dest / ENTRY_FILE).write_text(json.dumps(entry, indent=2) + "\n", encoding="utf-8")

    def adopt(self, source: Path, dest: Path) -> None:
        if not (source / ENTRY_FILE).is_file():
            raise UnsupportedModelError(f"python: {source} is not a folder with {ENTRY_FILE}")
        _read_entry_file(source)
        shutil.copytree(source, dest, dirs_exist_ok=True)

    def load(self, path: Path, options: LoadOptions) -> LoadedModel:
        try:
            entry_point, data_dir = _read_entry_file(path)
        except UnsupportedModelError as exc:
            raise RuntimeLoadError(str(exc)) from exc
        cls = resolve_entry_point(entry_point)
        try:
            instance = getattr(cls, "load")(path / data_dir)  # noqa: B009
        except Exception as exc:
            raise RuntimeLoadError(f"python: {entry_point}.load failed: {exc}") from exc
        return PythonLoadedModel(instance, entry_point)
