"""``shoal serve``: the multi-model endpoint (Open Inference Protocol V2) under a memory budget."""

from __future__ import annotations

import ipaddress
import logging
from pathlib import Path
from typing import Annotated

import typer

from shoal.cli.output import console
from shoal.cli.state import state
from shoal.registry.refs import ModelRef

logger = logging.getLogger(__name__)


def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    workers: Annotated[
        int | None,
        typer.Option(
            help="Prediction threads; they share one process and one model cache, so "
            "each model is resident once [env SHOAL_INFERENCE_THREADS]."
        ),
    ] = None,
    memory_budget: Annotated[
        str | None,
        typer.Option(
            help="Bytes of models to keep in memory, e.g. 1GiB [env SHOAL_MEMORY_BUDGET]."
        ),
    ] = None,
    max_body: Annotated[
        str | None, typer.Option(help="Largest request body, e.g. 16MiB (413 above).")
    ] = None,
    restore: Annotated[
        bool, typer.Option(help="Reload the previous hot set in the background at start.")
    ] = True,
    pin: Annotated[
        list[str] | None,
        typer.Option(help="Keep this model always resident (t/m, t/m@alias), repeatable."),
    ] = None,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
    auth: Annotated[
        bool,
        typer.Option(help="Require API keys (--no-auth serves without; loopback hosts only)."),
    ] = True,
    access_log: Annotated[
        bool | None,
        typer.Option(
            "--access-log/--no-access-log",
            help="One JSON line per request on stderr [env SHOAL_ACCESS_LOG].",
        ),
    ] = None,
    access_log_file: Annotated[
        Path | None,
        typer.Option(
            help="Append the access log to this file instead [env SHOAL_ACCESS_LOG_FILE]."
        ),
    ] = None,
    trace_exporter: Annotated[
        str | None,
        typer.Option(help="Where traces go: none, console, otlp [env SHOAL_TRACE_EXPORTER]."),
    ] = None,
    trace_sample_rate: Annotated[
        float | None,
        typer.Option(
            help="Share of requests traced, 0 to 1; failures are always traced "
            "[env SHOAL_TRACE_SAMPLE_RATE]."
        ),
    ] = None,
    metrics_dir: Annotated[
        Path | None,
        typer.Option(
            help="Folder shared by this host's server processes, so /metrics counts them all "
            "[env SHOAL_METRICS_DIR]."
        ),
    ] = None,
) -> None:
    """Serve every registered model of every tenant from one endpoint."""
    if not auth and not _is_loopback(host):
        raise typer.BadParameter(
            f"--no-auth is refused for {host!r}: without keys anyone who can reach the server "
            "can call every model; use it on 127.0.0.1 only",
            param_hint="--no-auth",
        )
    import uvicorn

    from shoal.api.management import Management
    from shoal.api.protocol import CoalescingHttpToolsProtocol
    from shoal.server import ServerConfig, create_app
    from shoal.wiring import build_capture, build_inference, build_telemetry

    cli = state(ctx)
    overrides = {
        "inference_threads": workers,
        "memory_budget": memory_budget,
        "max_body_bytes": max_body,
        "access_log": access_log,
        "access_log_file": access_log_file,
        "trace_exporter": trace_exporter,
        "trace_sample_rate": trace_sample_rate,
        "metrics_dir": metrics_dir,
    }
    cli.overrides.update({k: v for k, v in overrides.items() if v is not None})
    settings = cli.settings()
    services = cli.client().services
    inference = build_inference(settings, services)
    config = ServerConfig(
        max_body_bytes=int(settings.max_body_bytes),
        hot_set_file=settings.cache_dir / "hot-set.json",
        restore_hot_set=restore,
        pinned=tuple(ModelRef.parse(ref) for ref in pin or ()),
        max_upload_bytes=int(settings.max_upload_bytes),
        freeze_gc=True,
    )
    budget = settings.memory_budget.human_readable()
    console.print(
        f"shoal serving on http://{host}:{port}/v2 with a {budget} memory budget and "
        f"{settings.inference_threads} prediction threads"
        + ("" if auth else " — WITHOUT API keys (--no-auth)"),
        highlight=False,
    )
    uvicorn.run(
        create_app(
            inference,
            config,
            services.access if auth else None,
            manage=Management(services.registry, services.access, services.actor),
            capture=build_capture(settings, services),
            capture_config=services.capture,
            telemetry=build_telemetry(settings, services, inference),
        ),
        host=host,
        port=port,
        http=CoalescingHttpToolsProtocol,
        log_level=log_level,
        access_log=False,
        proxy_headers=False,  # 127.0.0.1 by default; trust X-Forwarded-* only behind a proxy
        server_header=False,
        timeout_graceful_shutdown=10,
    )


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"
