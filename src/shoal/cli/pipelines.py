"""``shoal pipelines run|show``: run a pipeline by reference, or print its graph."""

from __future__ import annotations

from typing import Annotated

import typer

from shoal.cli.output import OutputFormat, command_group, console, print_json, print_rows
from shoal.cli.runs import print_outcome, progress_bar, runner
from shoal.errors import ValidationError
from shoal.pipelines.loader import load_pipeline
from shoal.pipelines.typecheck import type_name

app = command_group("Pipelines: run them, show their graph.")

ReferenceArgument = Annotated[
    str,
    typer.Argument(help="package.module:attribute or path/to/file.py:attribute"),
]


def parse_params(pairs: list[str]) -> dict[str, str]:
    """``key=value`` options into a mapping; values are checked against the pipeline's types."""
    params: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ValidationError(f"parameter {pair!r} must look like key=value")
        params[key.strip()] = value
    return params


@app.command("run")
def run(
    ctx: typer.Context,
    reference: ReferenceArgument,
    param: Annotated[
        list[str] | None,
        typer.Option("--param", "-p", help="A parameter: key=value (repeat for more)."),
    ] = None,
    executor: Annotated[
        str | None, typer.Option(help="local or ray [env SHOAL_PIPELINE_EXECUTOR].")
    ] = None,
    workers: Annotated[int | None, typer.Option(help="Local workers (default: all cores).")] = None,
    output: Annotated[
        OutputFormat, typer.Option("--output", "-o", help="table or json")
    ] = OutputFormat.TABLE,
) -> None:
    """Run a pipeline to the end in the foreground; exit 1 if it failed (resume it later)."""
    pipeline = load_pipeline(reference)
    params = parse_params(param or [])
    pipeline.bind(params)  # bad parameters fail here, before any store is opened
    with progress_bar(output) as progress:
        run = runner(ctx, workers).run(pipeline, params, executor, progress=progress)
    print_outcome(run, output)


@app.command("show")
def show(
    reference: ReferenceArgument,
    output: Annotated[
        OutputFormat, typer.Option("--output", "-o", help="table or json")
    ] = OutputFormat.TABLE,
) -> None:
    """The pipeline's parameters and steps in run order, with what feeds each step."""
    pipeline = load_pipeline(reference)
    params = [
        {
            "name": p.name,
            "type": type_name(p.annotation),
            "default": None if p.required else p.default,
            "required": p.required,
        }
        for p in pipeline.params.values()
    ]
    steps = pipeline.describe()
    if output is OutputFormat.JSON:
        print_json(
            {
                "pipeline": pipeline.name,
                "reference": pipeline.reference,
                "params": params,
                "steps": steps,
            }
        )
        return
    console.print(f"[bold]{pipeline.name}[/bold] ({pipeline.reference})", highlight=False)
    if pipeline.description:
        console.print(pipeline.description, markup=False, highlight=False)
    print_rows(
        "Parameters",
        ["name", "type", "default"],
        [
            [
                p["name"],
                str(p["type"]),
                "(required)" if p["required"] else repr(p["default"]),
            ]
            for p in params
        ],
    )
    rows = []
    for s in steps:
        inputs = s["inputs"]
        assert isinstance(inputs, dict)
        rows.append(
            [
                s["step"],
                "\n".join(f"{k} ← {v}" for k, v in inputs.items()),
                str(s["returns"]),
                "yes" if s["fan_out"] else "",
                s["retry"],
                "yes" if s["cache"] else "",
            ]
        )
    print_rows(
        "Steps (in run order)", ["step", "inputs", "returns", "fan-out", "attempts", "cache"], rows
    )
    console.print(_graph(steps), highlight=False, markup=False)


def _graph(steps: list[dict[str, object]]) -> str:
    """The graph as arrows: ``load -> train[*] -> total``."""
    lines = []
    for s in steps:
        after = s["after"]
        assert isinstance(after, list)
        name = f"{s['step']}[*]" if s["fan_out"] else str(s["step"])
        lines.append(f"{', '.join(map(str, after))} -> {name}" if after else name)
    return "\n".join(lines)
