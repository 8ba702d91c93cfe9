"""The pipeline DSL: ``@step`` turns a typed function into a step, ``@pipeline`` wires steps.

::

    @step(retry=Retry(attempts=3))
    def load(day: str) -> pd.DataFrame: ...

    @step
    def train(tenant: str, frame: pd.DataFrame) -> float: ...

    @pipeline
    def nightly(day: str, tenants: list[str]) -> None:
        frame = load(day)
        train.map(tenant=each(tenants), frame=frame)   # one item per tenant

A pipeline function runs once, when it is decorated, with placeholders for its parameters: the
step calls inside it record the graph instead of running. Outside a pipeline a step is a plain
function, so it can be unit tested as one.
"""

from __future__ import annotations

import contextvars
import hashlib
import inspect
import sys
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, ParamSpec, TypeVar, overload

from shoal.errors import ValidationError
from shoal.pipelines.graph import ConstInput, Node, NodeInput, Parameter, ParamInput, Pipeline
from shoal.pipelines.graph import Source as _Source
from shoal.pipelines.retry import Retry
from shoal.pipelines.typecheck import coerce

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")


def _hints(fn: Callable[..., object], kind: str) -> dict[str, object]:
    try:
        return typing.get_type_hints(fn)
    except Exception as exc:  # NameError, TypeError from an unresolvable annotation
        raise ValidationError(
            f"{kind} {fn.__qualname__}: cannot resolve its type annotations: {exc}"
        ) from exc


def code_digest(fn: Callable[..., object], version: str | None) -> str:
    """The step's code identity: its ``version`` when pinned, else a hash of its source."""
    if version is not None:
        return hashlib.sha256(f"version:{version}".encode()).hexdigest()
    try:
        code = inspect.getsource(fn)
    except (OSError, TypeError):
        compiled = fn.__code__
        code = repr((compiled.co_code, compiled.co_consts, compiled.co_names))
    return hashlib.sha256(code.encode()).hexdigest()


class Step(Generic[P, R]):
    """A typed function the runner can cache, retry, fan out and record.

    ``cache=True`` reuses the output of any earlier run with the same cache key (code,
    parameters, input digests); ``fail_fast=True`` stops a fan-out at its first failed item
    instead of running the others; ``version`` pins the code identity (cache keys then ignore
    edits to the source, e.g. comments).
    """

    def __init__(
        self,
        fn: Callable[P, R],
        *,
        name: str | None = None,
        retry: Retry | None = None,
        cache: bool = False,
        fail_fast: bool = False,
        version: str | None = None,
    ) -> None:
        self.fn = fn
        self.name = name or fn.__name__
        self.retry = retry or Retry()
        self.cache = cache
        self.fail_fast = fail_fast
        self.signature = inspect.signature(fn)
        hints = _hints(fn, "step")
        for arg, parameter in self.signature.parameters.items():
            if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
                raise ValidationError(f"step {self.name}: *{arg} parameters are not supported")
            if arg not in hints:
                raise ValidationError(f"step {self.name}: parameter {arg!r} has no type annotation")
        if "return" not in hints:
            raise ValidationError(f"step {self.name}: the function has no return annotation")
        self.returns: object = hints.pop("return")
        self.hints: dict[str, object] = {arg: hints[arg] for arg in self.signature.parameters}
        self.code_digest = code_digest(fn, version)
        self.__doc__ = fn.__doc__
        self.__wrapped__ = fn

    def __repr__(self) -> str:
        return f"<step {self.name}>"

    def _erased(self) -> Step[..., object]:
        return typing.cast("Step[..., object]", self)

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        trace = _TRACE.get()
        if trace is None:
            return self.fn(*args, **kwargs)
        return typing.cast(R, trace.add(self._erased(), args, kwargs, fan_out=False))

    def map(self, *args: P.args, **kwargs: P.kwargs) -> list[R]:
        """Fan out: one item per element of the arguments wrapped in ``each()`` (zipped)."""
        trace = _TRACE.get()
        if trace is None:
            raise ValidationError(f"step {self.name}: .map() only works inside a @pipeline")
        return typing.cast(list[R], trace.add(self._erased(), args, kwargs, fan_out=True))


@overload
def step(fn: Callable[P, R], /) -> Step[P, R]: ...


@overload
def step(
    *,
    name: str | None = None,
    retry: Retry | None = None,
    cache: bool = False,
    fail_fast: bool = False,
    version: str | None = None,
) -> Callable[[Callable[P, R]], Step[P, R]]: ...


def step(
    fn: Callable[P, R] | None = None,
    /,
    *,
    name: str | None = None,
    retry: Retry | None = None,
    cache: bool = False,
    fail_fast: bool = False,
    version: str | None = None,
) -> Step[P, R] | Callable[[Callable[P, R]], Step[P, R]]:
    """Make a typed function a step: ``@step`` or ``@step(retry=Retry(attempts=3), ...)``."""

    def wrap(function: Callable[P, R]) -> Step[P, R]:
        return Step(
            function, name=name, retry=retry, cache=cache, fail_fast=fail_fast, version=version
        )

    return wrap(fn) if fn is not None else wrap


# -- tracing a pipeline function ----------------------------------------------------------


class _Placeholder:
    """Stands for a parameter or a step's output while a pipeline function is traced."""

    __slots__ = ("label", "source")

    def __init__(self, source: _Source, label: str) -> None:
        self.source = source
        self.label = label

    def __repr__(self) -> str:
        return f"<{self.label}>"

    def _misuse(self, what: str) -> ValidationError:
        return ValidationError(
            f"a pipeline only wires steps: it cannot {what} {self.label} while it is defined "
            "(do that inside a step; fan out with step.map(arg=each(values)))"
        )

    def __bool__(self) -> bool:
        raise self._misuse("test the value of")

    def __iter__(self) -> typing.Iterator[object]:
        raise self._misuse("iterate over")

    def __getattr__(self, name: str) -> object:
        raise self._misuse(f"read attribute {name!r} of")


@dataclass(frozen=True, slots=True)
class _Each:
    value: object


def each(values: Sequence[T]) -> T:
    """Mark the argument a ``step.map(...)`` fans out over: one item per element."""
    return typing.cast(T, _Each(values))


@dataclass(slots=True)
class _Trace:
    pipeline: str
    nodes: list[Node]

    def add(
        self,
        step: Step[..., object],
        args: tuple[object, ...],
        kwargs: dict[str, object],
        *,
        fan_out: bool,
    ) -> _Placeholder:
        try:
            bound = step.signature.bind_partial(*args, **kwargs)
        except TypeError as exc:
            raise ValidationError(f"step {step.name}: {exc}") from exc
        inputs: dict[str, _Source] = {}
        mapped: list[str] = []
        for arg, given in bound.arguments.items():
            value = given
            if isinstance(given, _Each):
                if not fan_out:
                    raise ValidationError(
                        f"step {step.name}: each() fans out; call {step.name}.map(...) instead"
                    )
                mapped.append(arg)
                value = given.value
            inputs[arg] = self._source(step, arg, value)
        if fan_out and not mapped:
            raise ValidationError(
                f"step {step.name}: .map() needs at least one argument wrapped in each()"
            )
        taken = {node.name for node in self.nodes}
        name, suffix = step.name, 2
        while name in taken:
            name, suffix = f"{step.name}_{suffix}", suffix + 1
        self.nodes.append(Node(name, step, inputs, tuple(mapped)))
        return _Placeholder(NodeInput(name), f"the output of step {name}")

    @staticmethod
    def _source(step: Step[..., object], arg: str, value: object) -> _Source:
        if isinstance(value, _Placeholder):
            return value.source
        if isinstance(value, Step):
            raise ValidationError(f"step {step.name}: argument {arg!r} is a step; call it first")
        return ConstInput(coerce(f"{step.name}.{arg}", value, object))


_TRACE: contextvars.ContextVar[_Trace | None] = contextvars.ContextVar("pipeline_trace")
_TRACE.set(None)


@overload
def pipeline(fn: Callable[..., object], /) -> Pipeline: ...


@overload
def pipeline(*, name: str | None = None) -> Callable[[Callable[..., object]], Pipeline]: ...


def pipeline(
    fn: Callable[..., object] | None = None, /, *, name: str | None = None
) -> Pipeline | Callable[[Callable[..., object]], Pipeline]:
    """Trace a function that wires steps into a ``Pipeline``; its parameters become the run's."""

    def build(function: Callable[..., object]) -> Pipeline:
        title = name or function.__name__
        hints = _hints(function, "pipeline")
        params: dict[str, Parameter] = {}
        placeholders: dict[str, _Placeholder] = {}
        for arg, parameter in inspect.signature(function).parameters.items():
            annotation = hints.get(arg, object)
            if parameter.default is inspect.Parameter.empty:
                params[arg] = Parameter(arg, annotation)
            else:
                default = coerce(arg, parameter.default, annotation)
                params[arg] = Parameter(arg, annotation, default, required=False)
            placeholders[arg] = _Placeholder(ParamInput(arg), f"parameter {arg}")
        trace = _Trace(title, [])
        token = _TRACE.set(trace)
        try:
            function(**placeholders)
        finally:
            _TRACE.reset(token)
        if not trace.nodes:
            raise ValidationError(f"pipeline {title} calls no step")
        reference = _reference(function)
        return Pipeline(
            title, params, tuple(trace.nodes), reference, inspect.getdoc(function) or ""
        )

    return build(fn) if fn is not None else build


def _reference(function: Callable[..., object]) -> str:
    """How resume finds the pipeline again: ``module:attribute``, or ``file.py:attribute`` for
    a script run as ``__main__`` (its module name means nothing to another process)."""
    module = sys.modules.get(function.__module__)
    path = getattr(module, "__file__", None)
    if function.__module__ == "__main__" and path:
        return f"{Path(path).resolve()}:{function.__qualname__}"
    return f"{function.__module__}:{function.__qualname__}"
