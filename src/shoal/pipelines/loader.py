"""Finds a pipeline by reference: ``package.module:attribute`` or ``path/to/file.py:attribute``.

The one loader behind ``shoal pipelines run``, resume, rerun, schedules and notebook jobs. A
file is imported under a module name derived from its absolute path and kept in
``sys.modules``, so worker processes and repeated loads see the same objects.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from shoal.errors import NotFoundError, ValidationError
from shoal.pipelines.graph import Pipeline


def load_pipeline(reference: str) -> Pipeline:
    """The ``Pipeline`` at ``reference``; its ``reference`` is set to the normalised form."""
    target, sep, attribute = reference.rpartition(":")
    if not sep or not target or not attribute:
        raise ValidationError(
            f"pipeline reference {reference!r} must look like package.module:attribute or "
            "path/to/file.py:attribute"
        )
    if target.endswith(".py") or "/" in target or "\\" in target:
        path = Path(target).expanduser().resolve()
        module = _import_file(path)
        normalised = f"{path}:{attribute}"
    else:
        module = _import_module(target)
        normalised = f"{target}:{attribute}"
    found: object = module
    for part in attribute.split("."):
        if not hasattr(found, part):
            raise NotFoundError(f"{target} has no attribute {attribute!r} (from {reference!r})")
        found = getattr(found, part)
    if not isinstance(found, Pipeline):
        raise ValidationError(
            f"{reference!r} is a {type(found).__name__}, not a pipeline (decorate it with "
            "@pipeline)"
        )
    return found.with_reference(normalised)


def _import_module(name: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        raise NotFoundError(f"cannot import pipeline module {name!r}: {exc}") from exc


def _import_file(path: Path) -> ModuleType:
    if not path.is_file():
        raise NotFoundError(f"pipeline file {str(path)!r} does not exist")
    name = f"shoal_pipeline_{path.stem}_{hashlib.sha256(str(path).encode()).hexdigest()[:12]}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ValidationError(f"{str(path)!r} is not a Python file that can be imported")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module
