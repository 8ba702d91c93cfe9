"""``shoal capture set|remove|show|list|read``: data capture per model, and reading it back."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer

from shoal.cli.output import (
    OutputFormat,
    OutputOption,
    command_group,
    print_json,
    print_listing,
    print_rows,
    short_time,
)
from shoal.cli.state import client, state
from shoal.errors import InvalidRefError, ValidationError
from shoal.observability.capture_config import CaptureConfig
from shoal.registry.names import check_name
from shoal.registry.refs import ModelRef
from shoal.wiring import build_capture_files

app = command_group(
    "Data capture: sample a model's requests and responses into the artifact store."
)

SubjectArgument = Annotated[
    str, typer.Argument(help="tenant/model, or a tenant for its models' default.")
]
ModelArgument = Annotated[str, typer.Argument(help="tenant/model")]


def _subject(text: str) -> tuple[str, str | None]:
    """``t/m`` -> (t, m); ``t`` -> (t, None); versions and aliases are refused."""
    if "/" not in text:
        return check_name(text, "tenant name"), None
    ref = ModelRef.parse(text)
    if ref.version is not None or ref.alias is not None:
        raise InvalidRefError(
            f"capture is set per model, for every version: give {ref.tenant}/{ref.model}, "
            f"not {text!r}"
        )
    return ref.tenant, ref.model


def _model(text: str) -> tuple[str, str]:
    tenant, model = _subject(text)
    if model is None:
        raise InvalidRefError(f"expected tenant/model, got {text!r}")
    return tenant, model


def _row(config: CaptureConfig) -> list[object]:
    updated = short_time(config.updated_at) if config.updated_at else ""
    return [
        config.tenant,
        config.model or "* (tenant default)",
        f"{config.percent:g}%",
        updated,
        config.updated_by or "",
    ]


@app.command("set")
def set_(
    ctx: typer.Context,
    subject: SubjectArgument,
    percent: Annotated[float, typer.Option(help="Share of inferences to capture, 0-100.")],
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Capture PERCENT % of a model's inferences (or, for a tenant, of its other models')."""
    tenant, model = _subject(subject)
    shoal = client(ctx)
    config = shoal.services.capture.set_config(tenant, model, percent, shoal.actor)
    if output is OutputFormat.JSON:
        print_json(config)
    else:
        typer.echo(f"capture of {config.subject}: {config.percent:g}% of inferences")


@app.command("remove")
def remove(ctx: typer.Context, subject: SubjectArgument) -> None:
    """Remove a setting (the model falls back to its tenant's default, else 0 %)."""
    tenant, model = _subject(subject)
    shoal = client(ctx)
    removed = shoal.services.capture.remove_config(tenant, model, shoal.actor)
    typer.echo(f"removed the capture setting of {removed.subject}")


@app.command("show")
def show(ctx: typer.Context, ref: ModelArgument, output: OutputOption = OutputFormat.TABLE) -> None:
    """What a model captures now, and which setting says so."""
    tenant, model = _model(ref)
    effective = client(ctx).services.capture.get_config(tenant, model)
    if output is OutputFormat.JSON:
        print_json(effective)
        return
    source = effective.source
    origin = "nothing set" if source is None else f"set for {source.subject}"
    print_rows(
        f"Capture of {tenant}/{model}",
        ["percent", "from", "updated", "by"],
        [
            [
                f"{effective.percent:g}%",
                origin,
                short_time(source.updated_at) if source and source.updated_at else "",
                source.updated_by if source else "",
            ]
        ],
    )


@app.command("list")
def list_(
    ctx: typer.Context,
    tenant: Annotated[str | None, typer.Option(help="Only this tenant's settings.")] = None,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """List capture settings (there is one per configured model or tenant)."""
    configs = client(ctx).services.capture.list_configs(tenant)
    columns = ["tenant", "model", "percent", "updated", "by"]
    print_listing(output, "Capture settings", columns, configs, _row, None)


def _hour(text: str) -> datetime:
    try:
        return datetime.strptime(text, "%Y-%m-%dT%H").replace(tzinfo=UTC)
    except ValueError:
        raise ValidationError(f"--hour must look like 2026-11-22T10 (UTC), got {text!r}") from None


@app.command("read")
def read(
    ctx: typer.Context,
    ref: ModelArgument,
    hour: Annotated[
        str | None, typer.Option(help="One UTC hour, e.g. 2026-11-22T10; default: every hour.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, help="Rows to print, the oldest first.")] = 20,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Print captured inferences: id, version, time, request and response (V2 JSON)."""
    tenant, model = _model(ref)
    files = build_capture_files(state(ctx).settings())
    start = _hour(hour) if hour else None
    end = start + timedelta(hours=1) if start else None
    frame = files.read(tenant, model, start, end)
    rows = frame.head(limit).to_dict("records")
    if output is OutputFormat.JSON:
        print_json(
            [
                {
                    "inference_id": row["inference_id"],
                    "model_version": int(row["model_version"]),
                    "timestamp": row["timestamp"].isoformat(),
                    "request": json.loads(row["request"]),
                    "response": json.loads(row["response"]),
                }
                for row in rows
            ]
        )
        return
    print_rows(
        f"Captured inferences of {tenant}/{model} ({len(rows)} of {len(frame)})",
        ["inference id", "version", "time (UTC)", "request", "response"],
        [
            [
                row["inference_id"],
                row["model_version"],
                row["timestamp"].strftime("%Y-%m-%d %H:%M:%S.%f"),
                _clip(str(row["request"])),
                _clip(str(row["response"])),
            ]
            for row in rows
        ],
    )


def _clip(text: str, width: int = 80) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
