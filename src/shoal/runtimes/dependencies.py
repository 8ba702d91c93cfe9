"""Lazy imports of model frameworks, turning a missing optional one into an install hint."""

from __future__ import annotations

import functools
import importlib
import importlib.util
from types import ModuleType

from shoal.errors import UnsupportedModelError

OPTIONAL_EXTRAS: dict[str, str] = {"lightgbm": "lightgbm", "xgboost": "xgboost"}
"""Framework module -> the ``shoal[...]`` extra that installs it."""


def install_hint(module: str) -> str:
    extra = OPTIONAL_EXTRAS.get(module)
    return f"pip install 'shoal[{extra}]'" if extra else f"pip install {module}"


@functools.cache  # installed packages do not change while a process runs
def is_installed(module: str) -> bool:
    """Whether ``module`` can be imported, found without importing it (cheap)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def require(module: str) -> ModuleType:
    """Import a framework, or raise UnsupportedModelError saying how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise UnsupportedModelError(
            f"the {module} model format needs the {module} package, which is not installed; "
            f"run: {install_hint(module)}"
        ) from exc
