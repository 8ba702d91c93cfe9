"""Expanding a ready node into items: arguments per item, labels and cache keys.

The cache key of an item is the sha256 of its step's code digest and, per argument, the digest
of the value it receives (a literal's canonical JSON, a stored output's digest, or the list of
digests of a fan-out's outputs). Same code, parameters and input data: same key.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import orjson

from shoal.errors import ValidationError
from shoal.pipelines import values
from shoal.pipelines.environment import StepEnvironment
from shoal.pipelines.graph import ConstInput, Node, NodeInput, ParamInput
from shoal.pipelines.records import JsonValue, ValueRef
from shoal.pipelines.worker import Arg, Gathered, Literal

KEY_LIMIT = 200


@dataclass(frozen=True, slots=True)
class PlannedItem:
    """An item's arguments, label and cache key, before it runs."""

    index: int
    key: str
    args: Mapping[str, Arg]
    cache_key: str


def arg_digest(arg: Arg) -> str:
    if isinstance(arg, Literal):
        return values.digest_of(orjson.dumps(arg.value, option=orjson.OPT_SORT_KEYS))
    if isinstance(arg, Gathered):
        return values.digest_of(",".join(ref.digest for ref in arg.refs).encode())
    return arg.digest


def cache_key(code_digest: str, args: Mapping[str, Arg]) -> str:
    hasher = hashlib.sha256(code_digest.encode())
    for name in sorted(args):
        hasher.update(f"|{name}={arg_digest(args[name])}".encode())
    return hasher.hexdigest()


def plan_items(
    node: Node,
    params: Mapping[str, JsonValue],
    outputs: Mapping[str, Sequence[ValueRef]],
    fanned: Mapping[str, bool],
    env: StepEnvironment,
) -> list[PlannedItem]:
    """The items of ``node`` given the run's parameters and its upstream nodes' outputs.

    ``outputs[n]`` holds node ``n``'s item outputs; ``fanned[n]`` says whether ``n`` fans out
    (its outputs then reach a plain argument as one list).
    """
    shared: dict[str, Arg] = {}
    spread: dict[str, list[Arg]] = {}
    for arg, source in node.inputs.items():
        if arg in node.mapped:
            spread[arg] = _elements(node, arg, source, params, outputs, fanned, env)
        else:
            shared[arg] = _whole(source, params, outputs, fanned)
    if not spread:
        return [PlannedItem(0, "", shared, cache_key(node.step.code_digest, shared))]
    lengths = {arg: len(elements) for arg, elements in spread.items()}
    if len(set(lengths.values())) > 1:
        raise ValidationError(
            f"step {node.name} fans out over arguments of different lengths: {lengths}"
        )
    count = next(iter(lengths.values()))
    items: list[PlannedItem] = []
    for index in range(count):
        args = {**shared, **{arg: elements[index] for arg, elements in spread.items()}}
        label = _label(index, [elements[index] for elements in spread.values()])
        items.append(PlannedItem(index, label, args, cache_key(node.step.code_digest, args)))
    return items


def _whole(
    source: ParamInput | NodeInput | ConstInput,
    params: Mapping[str, JsonValue],
    outputs: Mapping[str, Sequence[ValueRef]],
    fanned: Mapping[str, bool],
) -> Arg:
    if isinstance(source, ParamInput):
        return Literal(params[source.name])
    if isinstance(source, ConstInput):
        return Literal(source.value)
    refs = outputs[source.node]
    return Gathered(tuple(refs)) if fanned[source.node] else refs[0]


def _elements(
    node: Node,
    arg: str,
    source: ParamInput | NodeInput | ConstInput,
    params: Mapping[str, JsonValue],
    outputs: Mapping[str, Sequence[ValueRef]],
    fanned: Mapping[str, bool],
    env: StepEnvironment,
) -> list[Arg]:
    if isinstance(source, NodeInput) and fanned[source.node]:
        return list(outputs[source.node])
    if isinstance(source, NodeInput):
        value: object = values.load(outputs[source.node][0], env)
        origin = f"step {source.node}"
    elif isinstance(source, ParamInput):
        value, origin = params[source.name], f"parameter {source.name}"
    else:
        value, origin = source.value, "a constant"
    if not isinstance(value, list):
        raise ValidationError(
            f"step {node.name} fans out over {arg!r}, but {origin} is a "
            f"{type(value).__name__}, not a list"
        )
    return [Literal(element) for element in value]


def _label(index: int, elements: Sequence[Arg]) -> str:
    parts = []
    for element in elements:
        if isinstance(element, Literal) and isinstance(element.value, str | int | float | bool):
            parts.append(str(element.value))
    label = ",".join(parts) if parts else str(index)
    return label[:KEY_LIMIT]
