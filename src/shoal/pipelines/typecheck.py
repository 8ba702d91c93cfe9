"""Static type checks between steps, and parameters checked and coerced to their annotations.

Compatibility is decided from annotations before anything runs: a step's output type must be
usable where the consuming parameter's annotation asks for it. ``Any``, ``object`` and
unresolvable annotations accept everything (the check is there to catch mistakes, not to
replace mypy).
"""

from __future__ import annotations

import json
import types
import typing
from collections.abc import Mapping, Sequence
from typing import Any, Union, get_args, get_origin

from shoal.errors import ValidationError
from shoal.pipelines.records import JsonValue

_NONE = type(None)
_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


def type_name(annotation: object) -> str:
    """``list[str]``, ``DataFrame``, ``int | None``: how an annotation reads in messages."""
    if annotation is _NONE or annotation is None:
        return "None"
    if isinstance(annotation, type) and not get_args(annotation):
        return annotation.__qualname__
    return str(annotation).replace("typing.", "")


def _members(annotation: object) -> tuple[object, ...]:
    if get_origin(annotation) in (Union, types.UnionType):
        return get_args(annotation)
    return (annotation,)


def _is_open(annotation: object) -> bool:
    return annotation in (Any, object, typing.Any) or isinstance(annotation, typing.TypeVar | str)


def compatible(provided: object, expected: object) -> bool:
    """Whether a value typed ``provided`` may be passed where ``expected`` is declared."""
    if _is_open(provided) or _is_open(expected):
        return True
    provided_members, expected_members = _members(provided), _members(expected)
    if len(provided_members) > 1:
        return all(compatible(member, expected) for member in provided_members)
    if len(expected_members) > 1:
        return any(compatible(provided, member) for member in expected_members)
    return _compatible_single(provided, expected)


def _compatible_single(provided: object, expected: object) -> bool:
    if provided is None:
        provided = _NONE
    if expected is None:
        expected = _NONE
    p_origin, e_origin = get_origin(provided) or provided, get_origin(expected) or expected
    if not isinstance(p_origin, type) or not isinstance(e_origin, type):
        return True  # Literal, Annotated, NewType...: too exotic to judge, let it run
    if not (issubclass(p_origin, e_origin) or (p_origin is int and e_origin is float)):
        return False
    p_args, e_args = get_args(provided), get_args(expected)
    if not p_args or not e_args:
        return True
    if len(p_args) != len(e_args) or Ellipsis in p_args or Ellipsis in e_args:
        return compatible(p_args[0], e_args[0])
    return all(compatible(p, e) for p, e in zip(p_args, e_args, strict=True))


def element_type(annotation: object) -> object | None:
    """The element type of a sequence annotation (``list[str]`` → ``str``), else None."""
    origin = get_origin(annotation) or annotation
    if _is_open(annotation):
        return Any
    if isinstance(origin, type) and issubclass(origin, Sequence) and origin not in (str, bytes):
        args = get_args(annotation)
        return args[0] if args else Any
    return None


def coerce(name: str, value: object, annotation: object) -> JsonValue:
    """``value`` checked against ``annotation``; strings (from the CLI) are parsed first.

    Parameters are stored with the run, so they must be JSON values.
    """
    if isinstance(value, str) and not _accepts(annotation, str):
        value = _parse(name, value, annotation)
    if not matches(value, annotation):
        raise ValidationError(
            f"parameter {name!r} must be {type_name(annotation)}, got {value!r} "
            f"({type(value).__name__})"
        )
    return _as_json(name, value)


def _accepts(annotation: object, kind: type) -> bool:
    return any(member is kind or _is_open(member) for member in _members(annotation))


def _parse(name: str, text: str, annotation: object) -> object:
    for member in _members(annotation):
        origin = get_origin(member) or member
        try:
            if member is _NONE and text.lower() in {"none", "null", ""}:
                return None
            if member is bool:
                if text.lower() in _TRUE | _FALSE:
                    return text.lower() in _TRUE
                continue
            if member in (int, float):
                return member(text)
            if origin in (list, tuple) or (isinstance(origin, type) and origin is dict):
                if text.lstrip().startswith(("[", "{")):
                    return json.loads(text)
                parts = [part.strip() for part in text.split(",") if part.strip()]
                inner = get_args(member)[0] if get_args(member) else str
                return [_parse(name, part, inner) if inner is not str else part for part in parts]
        except ValueError:
            continue
    return text


def matches(value: object, annotation: object) -> bool:
    if _is_open(annotation):
        return True
    for member in _members(annotation):
        if member is _NONE or member is None:
            if value is None:
                return True
            continue
        origin = get_origin(member) or member
        if not isinstance(origin, type):
            return True
        if origin is float and isinstance(value, int) and not isinstance(value, bool):
            return True
        if origin is int and isinstance(value, bool):
            continue
        if isinstance(value, origin) and _matches_items(value, member):
            return True
    return False


def _matches_items(value: object, annotation: object) -> bool:
    args = get_args(annotation)
    if not args:
        return True
    if isinstance(value, Mapping):
        return all(matches(v, args[-1]) for v in value.values())
    if isinstance(value, list | tuple):
        return all(matches(v, args[0]) for v in value)
    return True


def _as_json(name: str, value: object) -> JsonValue:
    try:
        return typing.cast(JsonValue, json.loads(json.dumps(value)))
    except (TypeError, ValueError) as exc:
        raise ValidationError(
            f"parameter {name!r} must be a JSON value (string, number, bool, list, mapping), "
            f"got {type(value).__name__}"
        ) from exc
