"""``shoal models register|import|list|show|versions|alias|approve|rollback|delete|history``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from shoal.cli.output import (
    OutputFormat,
    OutputOption,
    command_group,
    console,
    key_values,
    print_json,
    print_listing,
    short_time,
)
from shoal.cli.state import client
from shoal.errors import ValidationError
from shoal.registry.records import (
    AuditEvent,
    JsonScalar,
    Lineage,
    ModelVersion,
    RegisteredModel,
)

app = command_group("Models and their versions, aliases and approvals.")

LimitOption = Annotated[int, typer.Option(help="Page size (1-1000).")]
CursorOption = Annotated[str | None, typer.Option(help="Cursor of the next page.")]
RefArgument = Annotated[str, typer.Argument(help="tenant/model, tenant/model:3 or t/m@alias")]


def _pairs(values: list[str] | None, what: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for item in values or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValidationError(f"--{what} takes key=value, got {item!r}")
        pairs[key] = value
    return pairs


def _param_value(text: str) -> JsonScalar:
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return value if isinstance(value, str | int | float | bool) or value is None else text


def _metric_value(key: str, text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValidationError(f"--metric {key}={text!r}: the value must be a number") from None


def _read_sample(path: Path) -> object:
    import pandas as pd

    if not path.exists():
        raise ValidationError(f"sample file {path} does not exist")
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    if path.suffix == ".csv":
        return pd.read_csv(path)
    if path.suffix == ".npy":
        import numpy as np

        return np.load(path, allow_pickle=False)
    raise ValidationError(f"sample file {path}: use .csv, .parquet or .npy")


def _print_version(version: ModelVersion, output: OutputFormat) -> None:
    if output is OutputFormat.JSON:
        print_json(version)
        return
    lines = [
        ("version", version.ref),
        ("format", version.format),
        ("approval", version.approval.value),
        ("aliases", ", ".join(version.aliases)),
        ("artifact", f"sha256:{version.artifact.digest} ({version.artifact.size:,} bytes)"),
        (
            "inputs",
            ", ".join(f"{s.name} {s.datatype}{list(s.shape)}" for s in version.signature.inputs),
        ),
        (
            "outputs",
            ", ".join(f"{s.name} {s.datatype}{list(s.shape)}" for s in version.signature.outputs),
        ),
        ("metrics", key_values(version.metrics)),
        ("params", key_values(version.params)),
        ("tags", key_values(version.tags)),
        (
            "lineage",
            key_values({"run": version.lineage.run_id, "snapshot": version.lineage.snapshot_id}),
        ),
        ("description", version.description),
        ("created", f"{short_time(version.created_at)} by {version.created_by}"),
    ]
    for label, value in lines:
        console.print(f"[bold]{label:>12}[/bold]  {value}", highlight=False)


@app.command("register")
def register(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="tenant/model")],
    file: Annotated[Path, typer.Option("--file", "-f", help="Model file or python-format folder.")],
    format_: Annotated[
        str | None, typer.Option("--format", help="Format if not by ending.")
    ] = None,
    sample: Annotated[
        Path | None, typer.Option(help="Sample input (.csv/.parquet/.npy): checks and signature.")
    ] = None,
    metric: Annotated[list[str] | None, typer.Option(help="name=number, repeatable.")] = None,
    param: Annotated[list[str] | None, typer.Option(help="name=value, repeatable.")] = None,
    tag: Annotated[list[str] | None, typer.Option(help="name=value, repeatable.")] = None,
    description: Annotated[str, typer.Option(help="Free text.")] = "",
    alias: Annotated[
        list[str] | None, typer.Option(help="Alias to point here, repeatable.")
    ] = None,
    run_id: Annotated[str | None, typer.Option(help="Lineage: the run that made it.")] = None,
    snapshot_id: Annotated[str | None, typer.Option(help="Lineage: its data snapshot.")] = None,
    trust: Annotated[bool, typer.Option(help="Allow pickle/joblib (runs code on load).")] = False,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Register a model file as a new immutable version."""
    metrics = {k: _metric_value(k, v) for k, v in _pairs(metric, "metric").items()}
    version = client(ctx).register(
        ref,
        path=file,
        format=format_,
        sample_input=_read_sample(sample) if sample else None,
        params={k: _param_value(v) for k, v in _pairs(param, "param").items()},
        metrics=metrics,
        tags=_pairs(tag, "tag"),
        description=description,
        aliases=alias or (),
        lineage=Lineage(run_id=run_id, snapshot_id=snapshot_id),
        trust=trust,
    )
    _print_version(version, output)


@app.command("import")
def import_(
    ctx: typer.Context,
    root: Annotated[Path, typer.Argument(help="Folder laid out as ROOT/<tenant>/<model>/.")],
    create_tenants: Annotated[bool, typer.Option(help="Create missing tenants.")] = False,
    trust: Annotated[bool, typer.Option(help="Allow pickle/joblib files.")] = False,
    verify: Annotated[bool, typer.Option(help="Load each model back before keeping it.")] = True,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Bulk-register one new version per model folder; bad folders are reported and skipped."""
    shoal = client(ctx)
    if create_tenants and root.is_dir():
        existing = {t.name for t in shoal.iter_tenants()}
        for folder in sorted(p for p in root.iterdir() if p.is_dir()):
            if folder.name not in existing:
                shoal.create_tenant(folder.name)
    report = shoal.import_tree(root, trust=trust, verify=verify)
    if output is OutputFormat.JSON:
        print_json(report)
    else:
        console.print(f"registered {len(report.registered)} versions", highlight=False)
        for problem in report.problems:
            console.print(f"[red]skipped[/red] {problem.path}: {problem.message}", highlight=False)
    if report.problems:
        raise typer.Exit(1)


@app.command("verify")
def verify(
    ctx: typer.Context,
    ref: RefArgument,
    trust: Annotated[bool, typer.Option(help="Allow pickle/joblib (runs code on load).")] = False,
) -> None:
    """Re-read a version's artifact (sha256 checked) and load it; exit 6 if it is corrupt."""
    version = client(ctx).verify(ref, trust=trust).version
    typer.echo(
        f"{version.ref}: sha256:{version.artifact.digest} verified "
        f"({version.artifact.size:,} bytes), loads as {version.format}"
    )


@app.command("list")
def list_(
    ctx: typer.Context,
    tenant: Annotated[str | None, typer.Option(help="Only this tenant's models.")] = None,
    prefix: Annotated[str | None, typer.Option(help="Only names starting with this.")] = None,
    limit: LimitOption = 100,
    cursor: CursorOption = None,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """List models by tenant and name, a page at a time."""
    page = client(ctx).list_models(tenant, prefix, limit, cursor)

    def row(m: RegisteredModel) -> list[object]:
        return [
            f"{m.tenant}/{m.name}",
            m.latest_version,
            key_values(m.aliases),
            short_time(m.created_at),
        ]

    print_listing(
        output,
        "Models",
        ["model", "latest", "aliases", "created"],
        page.items,
        row,
        page.next_cursor,
    )


@app.command("show")
def show(ctx: typer.Context, ref: RefArgument, output: OutputOption = OutputFormat.TABLE) -> None:
    """Show one version (without version/alias: the one serving would pick)."""
    _print_version(client(ctx).get_version(ref), output)


@app.command("versions")
def versions(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="tenant/model")],
    limit: LimitOption = 100,
    cursor: CursorOption = None,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """List the versions of a model, newest first."""
    page = client(ctx).list_versions(ref, limit, cursor)

    def row(v: ModelVersion) -> list[object]:
        return [
            v.version,
            v.format,
            v.approval.value,
            ", ".join(v.aliases),
            key_values(v.metrics),
            short_time(v.created_at),
            v.created_by,
        ]

    columns = ["version", "format", "approval", "aliases", "metrics", "created", "by"]
    print_listing(output, f"Versions of {ref}", columns, page.items, row, page.next_cursor)


def _print_event(event: AuditEvent, output: OutputFormat) -> None:
    if output is OutputFormat.JSON:
        print_json(event)
        return
    move = f"{event.previous_version or '-'} -> {event.version or '-'}"
    console.print(
        f"{event.action.value} {event.tenant}/{event.model}@{event.alias}: {move}", highlight=False
    )


@app.command("alias")
def alias(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="The version: tenant/model:3 (or @other-alias).")],
    name: Annotated[str, typer.Argument(help="The alias, e.g. production or staging.")],
    remove: Annotated[bool, typer.Option(help="Remove the alias instead.")] = False,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Point an alias at a version (promotion), or remove it; every move is audited."""
    shoal = client(ctx)
    event = shoal.remove_alias(ref, name) if remove else shoal.set_alias(ref, name)
    _print_event(event, output)


@app.command("approve")
def approve(
    ctx: typer.Context,
    ref: RefArgument,
    reject: Annotated[bool, typer.Option(help="Reject instead of approve.")] = False,
    comment: Annotated[str, typer.Option(help="Why; kept in the audit log.")] = "",
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Approve (or --reject) a version; serving prefers approved versions."""
    shoal = client(ctx)
    version = shoal.reject(ref, comment) if reject else shoal.approve(ref, comment)
    if output is OutputFormat.JSON:
        print_json(version)
    else:
        typer.echo(f"{version.ref} is {version.approval.value}")


@app.command("rollback")
def rollback(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="tenant/model")],
    alias_: Annotated[str, typer.Option("--alias", help="The alias to move back.")] = "production",
    to: Annotated[int | None, typer.Option(help="Version to move to (default: previous).")] = None,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Move an alias back to the version it held before (or to --to N)."""
    _print_event(client(ctx).rollback(ref, alias_, to), output)


@app.command("delete")
def delete(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="tenant/model:3 (one version) or tenant/model (all).")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")] = False,
) -> None:
    """Delete a version or a whole model; artifacts no other version uses are removed."""
    if not yes:
        typer.confirm(f"delete {ref}?", abort=True)
    removed = client(ctx).delete(ref)
    typer.echo(f"deleted {len(removed)} version(s) of {ref}")


@app.command("history")
def history(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="tenant/model")],
    alias_: Annotated[str | None, typer.Option("--alias", help="Only this alias.")] = None,
    limit: LimitOption = 100,
    cursor: CursorOption = None,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """The audit log of a model: registrations, alias moves, approvals, deletions."""
    page = client(ctx).history(ref, alias=alias_, limit=limit, cursor=cursor)

    def row(e: AuditEvent) -> list[object]:
        return [
            short_time(e.at),
            e.actor,
            e.action.value,
            e.version,
            e.alias,
            e.previous_version,
            e.comment,
        ]

    columns = ["at", "actor", "action", "version", "alias", "previous", "comment"]
    print_listing(output, f"History of {ref}", columns, page.items, row, page.next_cursor)
