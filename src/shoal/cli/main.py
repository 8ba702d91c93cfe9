"""The ``shoal`` entry point: global flags, sub-command groups, and errors to exit codes."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer
from typer.core import TyperGroup

from shoal.cli import (
    capture,
    demo,
    jobs,
    keys,
    models,
    notify,
    pipelines,
    plans,
    predict,
    runs,
    scheduler,
    schedules,
    serve,
    sql,
    tenants,
)
from shoal.cli.exits import exit_code
from shoal.cli.output import errors
from shoal.cli.state import set_overrides
from shoal.errors import ShoalError
from shoal.version import __version__


class ShoalGroup(TyperGroup):
    """The root command: a domain error becomes one line on stderr and its exit code."""

    # typer types this with its vendored click's Context, which it does not export.
    def invoke(self, ctx: typer.Context) -> object:  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except ShoalError as exc:
            errors.print(f"error: {exc}", highlight=False, markup=False, soft_wrap=True)
            raise typer.Exit(exit_code(exc)) from exc


app = typer.Typer(
    rich_markup_mode=None,  # help texts are plain: "[env SHOAL_X]" must not vanish as markup
    name="shoal",
    cls=ShoalGroup,
    help="Shoal: run many small ML models — registry, serving, pipelines, monitoring.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(tenants.app, name="tenants")
app.add_typer(models.app, name="models")
app.add_typer(keys.app, name="keys")
app.add_typer(plans.app, name="plans")
app.add_typer(pipelines.app, name="pipelines")
app.add_typer(runs.app, name="runs")
app.add_typer(capture.app, name="capture")
app.add_typer(jobs.app, name="jobs")
app.add_typer(schedules.app, name="schedules")
app.add_typer(sql.app, name="queries")
app.add_typer(notify.app, name="notifications")
app.command("scheduler")(scheduler.scheduler)
app.command("sql")(sql.sql)
app.command("demo")(demo.run)
app.command("serve")(serve.serve)
app.command("predict")(predict.predict)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"shoal {__version__}")
        raise typer.Exit


@app.callback()
def root(
    ctx: typer.Context,
    home: Annotated[
        Path | None, typer.Option(help="Home folder of the embedded defaults [env SHOAL_HOME].")
    ] = None,
    metadata_url: Annotated[
        str | None, typer.Option(help="Metadata store URL [env SHOAL_METADATA_URL].")
    ] = None,
    artifact_url: Annotated[
        str | None, typer.Option(help="Artifact store URL [env SHOAL_ARTIFACT_URL].")
    ] = None,
    url: Annotated[
        str | None,
        typer.Option(help="Manage this Shoal server, not the local stores [env SHOAL_URL]."),
    ] = None,
    api_key: Annotated[
        str | None, typer.Option(help="API key for --url [env SHOAL_API_KEY].")
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log more.")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print version.")
    ] = False,
) -> None:
    """Global options apply to every command."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    set_overrides(ctx, home, metadata_url, artifact_url, url, api_key)


def main() -> None:
    """Console script entry point."""
    app()
