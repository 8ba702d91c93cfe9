"""The name table of model runtimes: built-ins plus ``shoal.runtimes`` entry points, loaded lazily.

Runtimes are named by ``"module:Class"`` strings and imported on first use, so building a table
(or importing Shoal) imports no ML framework.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Mapping
from importlib.metadata import entry_points
from pathlib import Path

from shoal.errors import RuntimeLoadError, UnsupportedModelError
from shoal.runtimes.base import ModelRuntime
from shoal.runtimes.dependencies import install_hint, is_installed

logger = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "shoal.runtimes"

BUILTIN_RUNTIMES: Mapping[str, str] = {
    "sklearn": "shoal.runtimes.sklearn:SklearnRuntime",
    "lightgbm": "shoal.runtimes.lightgbm:LightGBMRuntime",
    "xgboost": "shoal.runtimes.xgboost:XGBoostRuntime",
    "onnx": "shoal.runtimes.onnx:OnnxRuntime",
    "python": "shoal.runtimes.python:PythonRuntime",
    "pickle": "shoal.runtimes.pickle:PickleRuntime",
}

_OPTIONAL_FRAMEWORKS = {"lightgbm": "lightgbm", "xgboost": "xgboost"}
"""Runtime name -> the optional package it needs; checked without importing it."""

_SUFFIXES = {
    ".skops": "sklearn",
    ".onnx": "onnx",
    ".ubj": "xgboost",
    ".xgb": "xgboost",
    ".lgb": "lightgbm",
    ".lgbm": "lightgbm",
    ".pkl": "pickle",
    ".pickle": "pickle",
    ".joblib": "pickle",
}
"""Recognised without importing any runtime. ``.json`` is absent on purpose: too generic."""

# Exact-type checks first, sklearn's duck typing (which LightGBM/XGBoost wrappers also pass)
# last. Pickle is never chosen for an object: it must be asked for by name.
_SPECIFIC_ORDER = ("lightgbm", "xgboost", "onnx", "python")
_GENERIC_ORDER = ("sklearn",)
_NEVER_AUTOMATIC = frozenset({"pickle"})

PYTHON_ENTRY_FILE = "shoal-python.json"

RuntimeSpec = str | ModelRuntime
"""``"module:Class"`` (imported on first use) or a ready runtime object (tests, embedding)."""


def _import_spec(name: str, spec: str) -> ModelRuntime:
    module_name, _, attribute = spec.partition(":")
    try:
        target: object = importlib.import_module(module_name)
        for part in attribute.split("."):
            target = getattr(target, part)
        runtime = target() if isinstance(target, type) else target
    except Exception as exc:
        raise RuntimeLoadError(f"runtime {name!r} ({spec}) could not be imported: {exc}") from exc
    missing = [a for a in ("can_save", "save", "adopt", "load") if not hasattr(runtime, a)]
    if missing:
        raise RuntimeLoadError(f"runtime {name!r} ({spec}) is not a ModelRuntime: lacks {missing}")
    return runtime  # type: ignore[return-value]  # checked structurally above


class RuntimeTable:
    """Model runtimes by format name."""

    def __init__(
        self,
        runtimes: Mapping[str, RuntimeSpec] | None = None,
        *,
        discover_entry_points: bool = True,
    ) -> None:
        self._specs: dict[str, RuntimeSpec] = dict(
            BUILTIN_RUNTIMES if runtimes is None else runtimes
        )
        self._discover = discover_entry_points
        self._discovered = False
        self._cache: dict[str, ModelRuntime] = {}

    def _all_specs(self) -> dict[str, RuntimeSpec]:
        if self._discover and not self._discovered:
            self._discovered = True
            for entry in entry_points(group=ENTRY_POINT_GROUP):
                if entry.name in self._specs:
                    logger.warning("ignoring entry point runtime %r: name taken", entry.name)
                    continue
                self._specs[entry.name] = entry.value
        return self._specs

    def names(self) -> tuple[str, ...]:
        """Every known format name, sorted."""
        return tuple(sorted(self._all_specs()))

    def get(self, name: str) -> ModelRuntime:
        """The runtime for format ``name``; UnsupportedModelError if unknown or not installed."""
        specs = self._all_specs()
        if name not in specs:
            raise UnsupportedModelError(
                f"unknown model format {name!r}; known formats: {', '.join(self.names())}"
            )
        framework = _OPTIONAL_FRAMEWORKS.get(name)
        if framework is not None and not is_installed(framework):
            raise UnsupportedModelError(
                f"the {name} format needs the {framework} package; run: {install_hint(framework)}"
            )
        if name not in self._cache:
            spec = specs[name]
            self._cache[name] = _import_spec(name, spec) if isinstance(spec, str) else spec
        return self._cache[name]

    def warm_up(self, names: tuple[str, ...] = ("sklearn", "onnx")) -> None:
        """Import the named runtimes and their frameworks ahead of the first load.

        Runtimes may define ``warm_up()``; unknown or uninstalled names are skipped.
        """
        for name in names:
            try:
                runtime = self.get(name)
            except UnsupportedModelError:
                continue
            warm = getattr(runtime, "warm_up", None)
            if callable(warm):
                warm()

    def _third_party(self) -> list[str]:
        return [n for n in self._all_specs() if n not in BUILTIN_RUNTIMES]

    def for_object(self, obj: object) -> ModelRuntime:
        """The runtime that saves ``obj``, chosen from its type without importing frameworks.

        Pickle is never chosen here; ask for it by name.
        """
        specs = self._all_specs()
        order = [*_SPECIFIC_ORDER, *self._third_party(), *_GENERIC_ORDER]
        for name in order:
            if name not in specs or name in _NEVER_AUTOMATIC:
                continue
            framework = _OPTIONAL_FRAMEWORKS.get(name)
            if framework is not None and not is_installed(framework):
                continue  # no object of an uninstalled framework can exist
            # Asking the runtime costs no framework import: can_save only looks at the type.
            if self.get(name).can_save(obj):
                return self.get(name)
        kind = f"{type(obj).__module__}.{type(obj).__qualname__}"
        raise UnsupportedModelError(
            f"no model format can save a {kind}; known formats: {', '.join(self.names())} "
            "(pickle is used only when asked for by name)"
        )

    def for_file(self, path: Path, format: str | None = None) -> ModelRuntime:
        """The runtime that adopts the file or folder ``path``, by its suffix unless ``format``.

        A folder holding ``shoal-python.json`` is a python model. ``.json`` files are only
        adopted when the format is named (``format="xgboost"``).
        """
        if format is not None:
            return self.get(format)
        if path.is_dir():
            if (path / PYTHON_ENTRY_FILE).is_file():
                return self.get("python")
            raise UnsupportedModelError(
                f"{path} is a folder without {PYTHON_ENTRY_FILE}; name the model format"
            )
        suffix = path.suffix.lower()
        name = _SUFFIXES.get(suffix)
        if name is not None and name in self._all_specs():
            return self.get(name)
        for other in self._third_party():
            if suffix in self.get(other).file_suffixes:
                return self.get(other)
        known = sorted({*_SUFFIXES, *(s for n in self._third_party() for s in self._suffixes(n))})
        raise UnsupportedModelError(
            f"cannot tell the model format of {path.name!r} from its suffix {suffix!r}; "
            f"known suffixes: {', '.join(known)}; or name the format (e.g. xgboost for .json)"
        )

    def _suffixes(self, name: str) -> tuple[str, ...]:
        return tuple(self.get(name).file_suffixes)
