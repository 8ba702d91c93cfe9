"""A notebook as a job sees it: its parameters cell, checked and typed before anything runs.

The parameters a notebook takes are the names assigned in its cell tagged ``parameters``
(papermill's convention). A value for a name that cell does not assign is refused before a
kernel starts, naming the parameters the notebook has; values are converted to the type of
the default they replace where that is lossless (``42`` for a ``str`` default becomes
``"42"``, ``3`` for a ``float`` default becomes ``3.0``).
"""

from __future__ import annotations

import ast
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shoal.errors import ValidationError
from shoal.jobs.records import ParameterValue

PARAMETERS_TAG = "parameters"


@dataclass(frozen=True, slots=True)
class NotebookParameter:
    """A name the parameters cell assigns, with its default as written and its value if literal."""

    name: str
    default: str
    value: object


@dataclass(frozen=True, slots=True)
class Notebook:
    """A notebook file, its sha256 digest and the parameters its parameters cell declares."""

    path: Path
    digest: str
    parameters: Mapping[str, NotebookParameter]
    content: bytes = field(default=b"", repr=False, compare=False)
    """The bytes the digest is of: what runs, even if the file is edited meanwhile."""

    def bind(self, values: Mapping[str, ParameterValue]) -> dict[str, ParameterValue]:
        """``values`` checked against the parameters cell and typed like its defaults."""
        unknown = [name for name in values if name not in self.parameters]
        if unknown:
            known = ", ".join(self.parameters) or "none (it has no cell tagged 'parameters')"
            raise ValidationError(
                f"notebook {self.path.name!r} has no parameter "
                f"{', '.join(map(repr, unknown))}; its parameters are: {known}"
            )
        return {name: _typed(self.parameters[name], value) for name, value in values.items()}


def read_notebook(path: Path) -> Notebook:
    """Read and inspect ``path``; ``ValidationError`` if it is missing or not a notebook."""
    path = Path(path)
    if path.suffix != ".ipynb":
        raise ValidationError(f"{str(path)!r} is not a notebook (.ipynb)")
    try:
        raw = path.read_bytes()
    except FileNotFoundError as exc:
        raise ValidationError(f"notebook {str(path)!r} does not exist") from exc
    except OSError as exc:
        raise ValidationError(f"cannot read notebook {str(path)!r}: {exc}") from exc
    import nbformat  # imported here: it takes ~0.2 s, and `shoal --help` needs none of it

    try:
        node = nbformat.reads(raw.decode("utf-8"), as_version=4)  # type: ignore[no-untyped-call]
    except Exception as exc:  # nbformat raises several unrelated types for bad files
        raise ValidationError(f"{str(path)!r} is not a valid notebook: {exc}") from exc
    digest = hashlib.sha256(raw).hexdigest()
    return Notebook(path, digest, _parameters(node, path), raw)


def _parameters(node: Any, path: Path) -> dict[str, NotebookParameter]:
    for cell in node.cells:
        if cell.cell_type == "code" and PARAMETERS_TAG in cell.get("metadata", {}).get("tags", []):
            return _assignments(str(cell.source), path)
    return {}


def _assignments(source: str, path: Path) -> dict[str, NotebookParameter]:
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        raise ValidationError(
            f"the parameters cell of {path.name!r} is not valid Python: {exc}"
        ) from exc
    found: dict[str, NotebookParameter] = {}
    for statement in tree.body:
        if isinstance(statement, ast.Assign):
            targets, value = statement.targets, statement.value
        elif isinstance(statement, ast.AnnAssign) and statement.value is not None:
            targets, value = [statement.target], statement.value
        else:
            continue
        text = ast.get_source_segment(source, value) or ""
        try:
            literal = ast.literal_eval(value)
        except ValueError:
            literal = None
        for target in targets:
            if isinstance(target, ast.Name):
                found[target.id] = NotebookParameter(target.id, text, literal)
    return found


def _typed(parameter: NotebookParameter, value: ParameterValue) -> ParameterValue:
    default = parameter.value
    if isinstance(default, bool) or value is None or isinstance(value, bool):
        return value
    if isinstance(default, str) and isinstance(value, int | float):
        return str(value)
    if isinstance(default, float) and isinstance(value, int):
        return float(value)
    return value
