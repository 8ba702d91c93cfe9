"""Parameters from the command line and grid files, expanded into the points a fan-out runs.

``-p key=value`` gives one value: ``3`` (int), ``0.5`` (float), ``true`` (bool), ``null``,
``"a,b"`` (a JSON string, taken literally) or any other text (a string). Some values give
several, and the job fans out over them: ``2024-01-01..2024-01-31`` (every day, both ends
included), ``1..12`` (every integer), ``acme,globex`` or ``["acme", "globex"]`` (a list).
Several multi-valued parameters fan out over their product. A grid file adds points: a JSON
list of objects (one point each), a JSON object of lists (their product), or a CSV whose
header names the parameters (one point per row).
"""

from __future__ import annotations

import csv
import itertools
import json
import re
from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from pathlib import Path

from shoal.errors import ValidationError
from shoal.jobs.records import ParameterValue

Point = dict[str, ParameterValue]

MAX_POINTS = 10_000
"""More points than this is almost surely a typo in a range."""

_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_INT = re.compile(r"[+-]?\d+")
_JSON_INT = re.compile(r"-?(0|[1-9]\d*)")
"""An integer as JSON writes it: ``007`` stays text, so an id keeps its leading zeros."""
_JSON_FLOAT = re.compile(r"-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?")
_DATE = r"\d{4}-\d{2}-\d{2}"
_RANGE = re.compile(rf"(?P<start>{_DATE}|[+-]?\d+)\.\.(?P<end>{_DATE}|[+-]?\d+)")


def parse_scalar(text: str) -> ParameterValue:
    """One value from its text: JSON scalars (numbers, true/false/null, "strings"), else text."""
    stripped = text.strip()
    if _JSON_INT.fullmatch(stripped):
        return int(stripped)
    if stripped in {"true", "false", "null"} or stripped[:1] == '"':
        try:
            value = json.loads(stripped)
        except json.JSONDecodeError:
            return text
        return value if isinstance(value, str | bool) or value is None else text
    if not _JSON_FLOAT.fullmatch(stripped):
        return text
    return float(stripped)


def parse_values(text: str) -> list[ParameterValue]:
    """Every value ``text`` stands for: one, or several for a range or a list."""
    stripped = text.strip()
    if match := _RANGE.fullmatch(stripped):
        return _range(match["start"], match["end"], text)
    if stripped.startswith("["):
        try:
            items = json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise ValidationError(f"parameter list {text!r} is not valid JSON: {exc}") from exc
        if not items or not all(_is_scalar(item) for item in items):
            raise ValidationError(f"parameter list {text!r} must hold scalars, and at least one")
        return list(items)
    if "," in stripped and not stripped.startswith('"'):
        return [parse_scalar(item) for item in stripped.split(",")]
    return [parse_scalar(text)]


def parse_assignments(assignments: Sequence[str]) -> dict[str, list[ParameterValue]]:
    """``["day=2024-01-01..2024-01-03", "n=5"]`` -> ``{"day": [...3 days], "n": [5]}``."""
    axes: dict[str, list[ParameterValue]] = {}
    for assignment in assignments:
        key, sep, value = assignment.partition("=")
        key = key.strip()
        if not sep:
            raise ValidationError(f"parameter {assignment!r} must look like key=value")
        check_key(key)
        if key in axes:
            raise ValidationError(f"parameter {key!r} is given twice")
        axes[key] = parse_values(value)
    return axes


def check_key(key: str) -> str:
    if not _KEY.fullmatch(key):
        raise ValidationError(f"parameter name {key!r} is not a Python identifier")
    return key


def expand(
    axes: Mapping[str, Sequence[ParameterValue]], grid: Sequence[Point] | None = None
) -> list[Point]:
    """The points to run: the product of the axes, times every grid point (in order)."""
    base = grid if grid else [{}]
    overlap = set(axes) & {key for point in base for key in point}
    if overlap:
        raise ValidationError(
            f"parameter(s) {', '.join(sorted(overlap))} are in both the grid file and -p"
        )
    size = len(base)
    for values in axes.values():
        size *= len(values)
    if size > MAX_POINTS:
        raise ValidationError(f"the grid has {size} points; at most {MAX_POINTS} may run at once")
    keys = list(axes)
    combos = itertools.product(*(axes[key] for key in keys))
    return [
        {**point, **dict(zip(keys, combo, strict=True))}
        for point, combo in itertools.product(base, list(combos))
    ]


def read_grid(path: Path) -> list[Point]:
    """Points from a ``.json`` or ``.csv`` grid file (see the module docstring)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ValidationError(f"grid file {str(path)!r} does not exist") from exc
    except OSError as exc:
        raise ValidationError(f"cannot read grid file {str(path)!r}: {exc}") from exc
    suffix = Path(path).suffix.lower()
    if suffix == ".csv":
        points = [_csv_point(row, path) for row in csv.DictReader(text.splitlines())]
    elif suffix == ".json":
        points = _json_points(text, path)
    else:
        raise ValidationError(f"grid file {str(path)!r} must be .json or .csv")
    if not points:
        raise ValidationError(f"grid file {str(path)!r} has no points")
    return points


def _json_points(text: str, path: Path) -> list[Point]:
    try:
        loaded = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValidationError(f"grid file {str(path)!r} is not valid JSON: {exc}") from exc
    if isinstance(loaded, list):
        return [_json_point(item, path) for item in loaded]
    if isinstance(loaded, dict):
        axes: dict[str, list[ParameterValue]] = {}
        for key, values in loaded.items():
            check_key(key)
            listed = values if isinstance(values, list) else [values]
            if not listed or not all(_is_scalar(v) for v in listed):
                raise ValidationError(f"grid file {str(path)!r}: {key!r} must list scalars")
            axes[key] = listed
        return expand(axes)
    raise ValidationError(f"grid file {str(path)!r} must hold a list or an object")


def _json_point(item: object, path: Path) -> Point:
    if not isinstance(item, dict) or not all(_is_scalar(v) for v in item.values()):
        raise ValidationError(
            f"grid file {str(path)!r}: each point must be an object of scalars, got {item!r}"
        )
    return {check_key(str(k)): v for k, v in item.items()}


def _csv_point(row: Mapping[str | None, object], path: Path) -> Point:
    if None in row:
        raise ValidationError(f"grid file {str(path)!r}: a row has more cells than the header")
    return {check_key(str(k)): parse_scalar(str(v or "")) for k, v in row.items()}


def _range(start: str, end: str, text: str) -> list[ParameterValue]:
    if _INT.fullmatch(start) and _INT.fullmatch(end):
        low, high = int(start), int(end)
        if low > high:
            raise ValidationError(f"range {text!r} ends before it starts")
        if high - low + 1 > MAX_POINTS:
            raise ValidationError(
                f"range {text!r} has {high - low + 1} values; at most {MAX_POINTS}"
            )
        return list(range(low, high + 1))
    try:
        first, last = date.fromisoformat(start), date.fromisoformat(end)
    except ValueError as exc:
        raise ValidationError(f"range {text!r}: {exc}") from exc
    if first > last:
        raise ValidationError(f"range {text!r} ends before it starts")
    days = (last - first).days + 1
    if days > MAX_POINTS:
        raise ValidationError(f"range {text!r} has {days} days; at most {MAX_POINTS}")
    return [(first + timedelta(days=i)).isoformat() for i in range(days)]


def _is_scalar(value: object) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def describe(point: Mapping[str, ParameterValue]) -> str:
    """``day=2024-01-01 n=3``: a point as one short line."""
    return " ".join(f"{key}={value}" for key, value in point.items())
