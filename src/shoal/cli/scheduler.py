"""``shoal scheduler``: the process that starts scheduled pipeline runs (any number may run)."""

from __future__ import annotations

import signal
import threading
from typing import Annotated

import typer

from shoal.cli.state import client, state
from shoal.wiring import build_scheduler


def _global_options(ctx: typer.Context) -> list[str]:
    # Runs are `shoal pipelines run` processes: hand them the stores this command was given.
    options: list[str] = []
    overrides = state(ctx).overrides
    for key in ("home", "metadata_url", "artifact_url"):
        value = overrides.get(key)
        if value is not None:
            options += [f"--{key.replace('_', '-')}", str(value)]
    return options


def scheduler(
    ctx: typer.Context,
    tick: Annotated[
        float | None,
        typer.Option(min=0.1, help="Seconds between looks for due runs [SHOAL_SCHEDULE_TICK_S]."),
    ] = None,
    once: Annotated[
        bool, typer.Option(help="Look once, wait for the runs it started, and exit.")
    ] = False,
) -> None:
    """Start due pipeline runs until stopped (Ctrl-C or SIGTERM lets running runs finish).

    Any number of schedulers may run against one metadata store: each fire time is claimed
    in the database by exactly one of them.
    """
    settings = state(ctx).settings()
    runner = build_scheduler(settings, client(ctx).services, _global_options(ctx))
    if once:
        claimed = runner.tick()
        runner.drain()
        for fire in claimed:
            typer.echo(
                f"{fire.schedule} {fire.fire_at.isoformat()} {fire.status.value}: {fire.detail}"
            )
        return
    stop = threading.Event()

    def _stop(signum: int, _frame: object) -> None:
        typer.echo(f"scheduler {runner.name}: stopping after the running runs", err=True)
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    typer.echo(f"scheduler {runner.name} started; Ctrl-C to stop", err=True)
    runner.run_forever(stop, tick or settings.schedule_tick_s)
