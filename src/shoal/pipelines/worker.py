"""Runs items wherever an executor puts them (a thread, a pool process, a Ray worker).

An ``ItemTask`` names the step and carries its arguments as stored-value references; the
worker loads the inputs, calls the step with the item's context active and its output captured,
stores the result by type and returns an ``ItemOutcome``. Workers never touch the run store:
the runner records outcomes in batches.
"""

from __future__ import annotations

import os
import threading
import traceback
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from shoal.errors import ValidationError
from shoal.pipelines import capture, values
from shoal.pipelines.context import StepContext, activate, deactivate
from shoal.pipelines.dsl import Step
from shoal.pipelines.environment import EnvironmentFactory, StepEnvironment
from shoal.pipelines.graph import Pipeline
from shoal.pipelines.loader import load_pipeline
from shoal.pipelines.records import JsonValue, SnapshotRecord, ValueRef
from shoal.pipelines.retry import error_lineage, is_transient
from shoal.pipelines.typecheck import matches, type_name

ERROR_LIMIT = 16 * 1024


@dataclass(frozen=True, slots=True)
class Literal:
    """An argument given by value (a parameter, a constant, an element of a parameter list)."""

    value: JsonValue


@dataclass(frozen=True, slots=True)
class Gathered:
    """The outputs of every item of a fan-out, handed to one argument as a list."""

    refs: tuple[ValueRef, ...]


Arg = Literal | ValueRef | Gathered


@dataclass(frozen=True, slots=True)
class ItemTask:
    """One attempt at one item."""

    run_id: str
    pipeline_key: str
    reference: str | None
    node: str
    index: int
    key: str
    attempt: int
    args: Mapping[str, Arg]
    transient: tuple[str, ...]
    pinned: Mapping[str, SnapshotRecord] = field(default_factory=dict)
    lineage: tuple[str, ...] = ()
    """Snapshots behind the item's inputs (taken by the items that produced them)."""


@dataclass(frozen=True, slots=True)
class ItemOutcome:
    """What an attempt produced: an output, or an error (and whether it is transient)."""

    node: str
    index: int
    attempt: int
    started_at: datetime
    finished_at: datetime
    output: ValueRef | None = None
    error: str = ""
    transient: bool = False
    metrics: Mapping[str, float] = field(default_factory=dict)
    logs: str = ""
    snapshots: tuple[SnapshotRecord, ...] = ()
    registered: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.error


_PIPELINES: dict[str, Pipeline] = {}
"""Pipelines by key: registered by the runner before workers fork, loaded by reference else."""
_ENVIRONMENTS: dict[int, StepEnvironment] = {}
_lock = threading.Lock()


def register_pipeline(key: str, pipeline: Pipeline) -> None:
    _PIPELINES[key] = pipeline


def _step(task: ItemTask) -> Step[..., object]:
    pipeline = _PIPELINES.get(task.pipeline_key)
    if pipeline is None:
        if task.reference is None:
            raise ValidationError(f"run {task.run_id}: this worker cannot find its pipeline")
        with _lock:
            pipeline = _PIPELINES.setdefault(task.pipeline_key, load_pipeline(task.reference))
    return pipeline.node(task.node).step


def environment(factory: EnvironmentFactory) -> StepEnvironment:
    """This process's environment from ``factory``, built once."""
    key = id(factory)
    env = _ENVIRONMENTS.get(key)
    if env is None:
        with _lock:
            env = _ENVIRONMENTS.get(key)
            if env is None:
                env = _ENVIRONMENTS[key] = factory()
    return env


class _InputCache:
    """Recently loaded large inputs by digest, so a broadcast input is decoded once per worker."""

    def __init__(self, size: int = 16) -> None:
        self._size = size
        self._values: OrderedDict[str, object] = OrderedDict()
        self._lock = threading.Lock()

    def load(self, ref: ValueRef, env: StepEnvironment) -> object:
        if ref.inline is not None or ref.format == values.JSON:
            return values.load(ref, env)  # cheap, and a fresh copy each time
        with self._lock:
            cached = self._values.get(ref.digest)
            if cached is not None:
                self._values.move_to_end(ref.digest)
        if cached is None:
            cached = values.load(ref, env)
            with self._lock:
                self._values[ref.digest] = cached
                while len(self._values) > self._size:
                    self._values.popitem(last=False)
        # Steps may modify their inputs; each gets its own copy of frames and arrays.
        copy = getattr(cached, "copy", None)
        return copy() if callable(copy) and ref.format != values.BYTES else cached


_INPUTS = _InputCache()


def run_batch(
    tasks: Sequence[ItemTask], factory: EnvironmentFactory | StepEnvironment
) -> list[ItemOutcome]:
    """Run ``tasks`` one after another in this worker; never raises for a step's failure."""
    env = factory if isinstance(factory, StepEnvironment) else environment(factory)
    return [run_item(task, env) for task in tasks]


def run_item(task: ItemTask, env: StepEnvironment) -> ItemOutcome:
    started = datetime.now(UTC)
    context = StepContext(
        task.run_id,
        task.node,
        task.index,
        task.key,
        task.attempt,
        env,
        task.pinned,
        lineage=task.lineage,
    )
    token = activate(context)
    output: ValueRef | None = None
    error, transient = "", False
    try:
        with capture.capturing() as captured:
            try:
                step = _step(task)
                kwargs = {name: _argument(arg, env) for name, arg in task.args.items()}
                result = step.fn(**kwargs)
                output = values.store(_checked(step, result), env)
            except Exception as exc:
                error = _format_error(exc)
                transient = is_transient(error_lineage(exc), task.transient)
    finally:
        deactivate(token)
    return ItemOutcome(
        task.node,
        task.index,
        task.attempt,
        started,
        datetime.now(UTC),
        output,
        error,
        transient,
        dict(context.metrics),
        captured.text(),
        tuple(context.snapshots),
        tuple(context.registered),
    )


def _argument(arg: Arg, env: StepEnvironment) -> object:
    if isinstance(arg, Literal):
        return arg.value
    if isinstance(arg, Gathered):
        return [_INPUTS.load(ref, env) for ref in arg.refs]
    return _INPUTS.load(arg, env)


def _checked(step: Step[..., object], result: object) -> object:
    item = getattr(result, "item", None)
    probe = item() if type(result).__module__ == "numpy" and callable(item) else result
    if not matches(probe, step.returns):
        raise ValidationError(
            f"step {step.name} returned {type(result).__name__} but declares "
            f"{type_name(step.returns)}"
        )
    return result


def _format_error(exc: BaseException) -> str:
    text = "".join(traceback.format_exception(exc))
    if len(text) > ERROR_LIMIT:
        text = text[: ERROR_LIMIT // 4] + "\n[...]\n" + text[-3 * ERROR_LIMIT // 4 :]
    return f"{type(exc).__name__}: {exc}\n(pid {os.getpid()})\n{text}"
