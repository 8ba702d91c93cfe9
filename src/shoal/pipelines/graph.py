"""A pipeline as a checked graph: nodes (step uses) wired to parameters and to each other.

Everything that can be known before a run is checked when a ``Pipeline`` is built: unknown
steps, cycles, missing arguments and type mismatches between steps each raise a
``ValidationError`` naming the step and the value at fault. Parameters are checked when they are
bound (``bind``), also before anything runs.
"""

from __future__ import annotations

import hashlib
import inspect
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from shoal.errors import ValidationError
from shoal.pipelines.records import JsonValue
from shoal.pipelines.typecheck import coerce, compatible, element_type, type_name

if TYPE_CHECKING:
    from shoal.pipelines.dsl import Step


@dataclass(frozen=True, slots=True)
class ParamInput:
    """An argument taken from a pipeline parameter."""

    name: str


@dataclass(frozen=True, slots=True)
class NodeInput:
    """An argument taken from another node's output (the list of outputs of a fan-out)."""

    node: str


@dataclass(frozen=True, slots=True)
class ConstInput:
    """An argument fixed in the pipeline's definition."""

    value: JsonValue


Source = ParamInput | NodeInput | ConstInput


@dataclass(frozen=True, slots=True)
class Node:
    """One use of a step: where each argument comes from, and which ones fan out (zipped)."""

    name: str
    step: Step[..., object]
    inputs: Mapping[str, Source]
    mapped: tuple[str, ...] = ()
    after: tuple[str, ...] = ()
    """Nodes that must finish first although no output flows from them."""

    @property
    def fan_out(self) -> bool:
        return bool(self.mapped)

    def upstream(self) -> tuple[str, ...]:
        fed = [source.node for source in self.inputs.values() if isinstance(source, NodeInput)]
        return tuple(dict.fromkeys([*fed, *self.after]))


@dataclass(frozen=True, slots=True)
class Parameter:
    """A pipeline parameter: its annotation and its default (``required`` when it has none)."""

    name: str
    annotation: object
    default: JsonValue = None
    required: bool = True


@dataclass(frozen=True, slots=True)
class Pipeline:
    """A named, validated graph of nodes in a runnable (topological) order."""

    name: str
    params: Mapping[str, Parameter]
    nodes: tuple[Node, ...]
    reference: str | None = None
    """``module:attribute`` or ``file.py:attribute``; how resume and rerun find it again."""
    description: str = ""
    _by_name: Mapping[str, Node] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_name: dict[str, Node] = {}
        for node in self.nodes:
            if node.name in by_name:
                raise ValidationError(f"pipeline {self.name}: two steps are named {node.name!r}")
            by_name[node.name] = node
        object.__setattr__(self, "_by_name", by_name)
        object.__setattr__(self, "nodes", _topological(self.name, self.nodes, by_name))
        for node in self.nodes:
            self._check_node(node)

    def node(self, name: str) -> Node:
        try:
            return self._by_name[name]
        except KeyError:
            raise ValidationError(
                f"pipeline {self.name} has no step {name!r}; it has {sorted(self._by_name)}"
            ) from None

    def output_type(self, name: str) -> object:
        """What a node hands downstream: its step's return type, a list of them for a fan-out."""
        node = self.node(name)
        returns = node.step.returns
        return list[returns] if node.fan_out else returns  # type: ignore[valid-type]

    def with_reference(self, reference: str) -> Pipeline:
        return Pipeline(self.name, self.params, self.nodes, reference, self.description)

    def bind(self, values: Mapping[str, object]) -> dict[str, JsonValue]:
        """Parameters checked against their annotations, with defaults filled in."""
        unknown = sorted(set(values) - set(self.params))
        if unknown:
            raise ValidationError(
                f"pipeline {self.name} has no parameter {', '.join(map(repr, unknown))}; "
                f"its parameters are {sorted(self.params) or 'none'}"
            )
        bound: dict[str, JsonValue] = {}
        for name, param in self.params.items():
            if name in values:
                bound[name] = coerce(name, values[name], param.annotation)
            elif param.required:
                raise ValidationError(
                    f"pipeline {self.name} needs parameter {name!r} ({type_name(param.annotation)})"
                )
            else:
                bound[name] = param.default
        return bound

    def digest(self) -> str:
        """Changes when a step's code or the wiring changes."""
        hasher = hashlib.sha256(self.name.encode())
        for node in self.nodes:
            hasher.update(f"|{node.name}:{node.step.code_digest}:{node.mapped}".encode())
            for arg, source in sorted(node.inputs.items()):
                hasher.update(f"{arg}={source!r}".encode())
        return hasher.hexdigest()

    def _check_node(self, node: Node) -> None:
        step = node.step
        for arg in node.inputs:
            if arg not in step.hints:
                raise ValidationError(
                    f"step {node.name} has no parameter {arg!r}; it takes {list(step.hints)}"
                )
        for arg, parameter in step.signature.parameters.items():
            if arg not in node.inputs and parameter.default is inspect.Parameter.empty:
                raise ValidationError(
                    f"step {node.name} is missing argument {arg!r} ({type_name(step.hints[arg])})"
                )
        for arg in node.mapped:
            if arg not in node.inputs:
                raise ValidationError(f"step {node.name} fans out over unknown argument {arg!r}")
        for arg, source in node.inputs.items():
            self._check_input(node, arg, source)

    def _check_input(self, node: Node, arg: str, source: Source) -> None:
        expected = node.step.hints[arg]
        mapped = arg in node.mapped
        if isinstance(source, ParamInput):
            if source.name not in self.params:
                raise ValidationError(f"step {node.name} uses unknown parameter {source.name!r}")
            provided, origin = self.params[source.name].annotation, f"parameter {source.name}"
        elif isinstance(source, NodeInput):
            if source.node not in self._by_name:
                raise ValidationError(f"step {node.name} takes {arg!r} from unknown step")
            provided = self.output_type(source.node)
            origin = f"step {source.node}"
        else:
            if mapped and not isinstance(source.value, list):
                raise ValidationError(f"step {node.name} fans out over {arg!r}, not a list")
            return
        if mapped:
            element = element_type(provided)
            if element is None:
                raise ValidationError(
                    f"step {node.name} fans out over {arg!r}, but {origin} gives "
                    f"{type_name(provided)}, not a list"
                )
            provided = element
        if not compatible(provided, expected):
            each = "each element of " if mapped else ""
            raise ValidationError(
                f"type mismatch: step {node.name} takes {arg}: {type_name(expected)}, but "
                f"{each}{origin} is {type_name(provided)}"
            )

    def describe(self) -> list[dict[str, object]]:
        """The graph as plain data: one entry per step, in run order (``pipelines show``)."""
        rows: list[dict[str, object]] = []
        for node in self.nodes:
            inputs: dict[str, str] = {}
            for arg, source in node.inputs.items():
                text = _source_text(source)
                inputs[arg] = f"each of {text}" if arg in node.mapped else text
            rows.append(
                {
                    "step": node.name,
                    "function": f"{node.step.fn.__module__}.{node.step.fn.__qualname__}",
                    "inputs": inputs,
                    "after": list(node.upstream()),
                    "returns": type_name(self.output_type(node.name)),
                    "fan_out": node.fan_out,
                    "retry": node.step.retry.attempts,
                    "cache": node.step.cache,
                }
            )
        return rows


def _source_text(source: Source) -> str:
    if isinstance(source, ParamInput):
        return f"param {source.name}"
    if isinstance(source, NodeInput):
        return f"step {source.node}"
    return repr(source.value)


def _topological(
    pipeline: str, nodes: Sequence[Node], by_name: Mapping[str, Node]
) -> tuple[Node, ...]:
    """Nodes ordered so every node follows those it depends on; a cycle is a clear error."""
    for node in nodes:
        for upstream in node.upstream():
            if upstream not in by_name:
                raise ValidationError(
                    f"pipeline {pipeline}: step {node.name} depends on unknown step {upstream!r}"
                )
    waiting = {node.name: set(node.upstream()) for node in nodes}
    order: list[Node] = []
    ready = [node.name for node in nodes if not waiting[node.name]]
    while ready:
        name = ready.pop(0)
        order.append(by_name[name])
        for other in nodes:
            deps = waiting[other.name]
            if name in deps:
                deps.discard(name)
                if not deps:
                    ready.append(other.name)
    if len(order) < len(nodes):
        stuck = [name for name, deps in waiting.items() if deps]
        raise ValidationError(
            f"pipeline {pipeline} has a cycle through steps {' -> '.join(_cycle(stuck, waiting))}"
        )
    return tuple(order)


def _cycle(stuck: Iterable[str], waiting: Mapping[str, set[str]]) -> list[str]:
    start = next(iter(stuck))
    path = [start]
    current = start
    while True:
        current = sorted(waiting[current])[0]
        if current in path:
            return [*path[path.index(current) :], current]
        path.append(current)
