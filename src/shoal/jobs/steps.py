"""``notebook_step``: a notebook as a pipeline step, parameters and all.

The step's parameters are the notebook's (from its ``parameters`` cell, typed like their
defaults), so a pipeline wires it like any step: ``report(day=day)``; a parameter left out
keeps the notebook's default. Inside a run the executed notebook and its HTML go to the
artifact store, the cost is logged as the item's metrics, and an error cell or a timeout
fails the step with the cell and its traceback (so the pipeline's retry and resume apply).
The step returns a JSON summary: status, output digests, wall/CPU time and peak memory.
"""

from __future__ import annotations

import inspect
import re
import shutil
import tempfile
import uuid
from pathlib import Path

from shoal.errors import JobFailedError, ValidationError
from shoal.jobs.notebooks import NotebookParameter, read_notebook
from shoal.jobs.records import JobStatus, ParameterValue
from shoal.jobs.runner import NotebookRunner
from shoal.pipelines.context import StepContext, current, log_metric
from shoal.pipelines.dsl import Step
from shoal.pipelines.retry import Retry

NotebookSummary = dict[str, object]
"""What a notebook step returns (JSON): notebook, parameters, status, digests, cost."""


class _NotebookDefault:
    """Stands for "keep the notebook's own default": the parameter is not injected."""

    def __repr__(self) -> str:
        return "<notebook default>"


NOTEBOOK_DEFAULT = _NotebookDefault()


def notebook_step(
    path: str | Path,
    *,
    name: str | None = None,
    max_runtime_s: float | None = None,
    retry: Retry | None = None,
    kernel: str = "python3",
) -> Step[..., NotebookSummary]:
    """A step that runs the notebook at ``path`` with the arguments it is given.

    >>> report = notebook_step("notebooks/daily.ipynb", max_runtime_s=600)  # doctest: +SKIP
    >>> @pipeline
    ... def nightly(day: str) -> None:
    ...     report(day=day)                                                 # doctest: +SKIP
    """
    source = Path(path).resolve()
    notebook = read_notebook(source)
    if max_runtime_s is not None and not max_runtime_s > 0:
        raise ValidationError(f"max runtime must be more than 0 seconds, got {max_runtime_s}")
    parameters = [
        inspect.Parameter(
            p.name, inspect.Parameter.KEYWORD_ONLY, default=NOTEBOOK_DEFAULT, annotation=_type(p)
        )
        for p in notebook.parameters.values()
    ]
    signature = inspect.Signature(parameters, return_annotation=NotebookSummary)

    def run(**arguments: object) -> NotebookSummary:
        given = {k: v for k, v in arguments.items() if v is not NOTEBOOK_DEFAULT}
        return _run_notebook(source, given, max_runtime_s, kernel)

    run.__name__ = run.__qualname__ = name or _step_name(source)
    run.__doc__ = f"Runs the notebook {source.name}."
    run.__signature__ = signature  # type: ignore[attr-defined]
    run.__annotations__ = {p.name: p.annotation for p in parameters} | {"return": NotebookSummary}
    # The notebook's digest is the step's code identity: editing the notebook changes it.
    return Step(run, name=run.__name__, retry=retry, version=notebook.digest)


def _run_notebook(
    path: Path,
    arguments: dict[str, object],
    max_runtime_s: float | None,
    kernel: str,
) -> NotebookSummary:
    notebook = read_notebook(path)  # read now: the run executes the file as it is now
    bound = notebook.bind({k: _scalar(k, v) for k, v in arguments.items()})
    try:
        context: StepContext | None = current()
    except ValidationError:  # called as a plain function, outside a pipeline run
        context = None
    scratch = context.env.scratch if context is not None else Path(tempfile.gettempdir())
    work = scratch / "notebook-steps" / uuid.uuid4().hex
    try:
        execution = NotebookRunner(kernel).execute(notebook, bound, work, max_runtime_s)
        output = html = None
        if context is not None:
            artifacts = context.env.artifacts
            output = artifacts.put_file(execution.notebook).digest if execution.notebook else None
            html = artifacts.put_file(execution.html).digest if execution.html else None
    finally:
        shutil.rmtree(work, ignore_errors=True)
    usage = execution.usage
    log_metric("notebook.wall_s", usage.wall_s)
    if usage.cpu_s is not None:
        log_metric("notebook.cpu_s", usage.cpu_s)
    if usage.peak_memory_bytes is not None:
        log_metric("notebook.peak_memory_bytes", usage.peak_memory_bytes)
    summary: NotebookSummary = {
        "notebook": str(path),
        "notebook_digest": notebook.digest,
        "parameters": dict(bound),
        "status": execution.status.value,
        "output_digest": output,
        "html_digest": html,
        "wall_s": usage.wall_s,
        "cpu_s": usage.cpu_s,
        "peak_memory_bytes": usage.peak_memory_bytes,
    }
    if execution.status is not JobStatus.SUCCEEDED:
        cell = execution.cell_error
        where = f"cell {cell.cell} raised " if cell is not None and cell.cell is not None else ""
        message = f"notebook {path.name} {execution.status.value}: {where}{execution.error}"
        if cell is not None:
            message += f"\n{cell.source}\n\n{cell.traceback}"
        raise JobFailedError(message, summary)
    return summary


def _type(parameter: NotebookParameter) -> object:
    value = parameter.value
    if isinstance(value, bool):
        return bool
    if isinstance(value, int):
        return int
    if isinstance(value, float):
        return float
    if isinstance(value, str):
        return str
    return object


def _scalar(name: str, value: object) -> ParameterValue:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise ValidationError(
        f"notebook parameter {name!r} takes a str, int, float, bool or None, "
        f"got {type(value).__name__} (write data to a file or a table and pass its path)"
    )


def _step_name(path: Path) -> str:
    return re.sub(r"\W+", "_", path.stem).strip("_").lower() or "notebook"
