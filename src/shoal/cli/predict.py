"""``shoal predict``: batch scoring of a Parquet/CSV file with a registered model."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from shoal.cli.output import console
from shoal.cli.state import client


def predict(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="tenant/model, tenant/model:3 or t/m@alias")],
    input_: Annotated[Path, typer.Option("--input", "-i", help="A .parquet or .csv file.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="A .parquet or .csv file.")],
    chunk_rows: Annotated[int, typer.Option(help="Rows per chunk.", min=1)] = 50_000,
    keep_columns: Annotated[bool, typer.Option(help="Copy the input columns through.")] = False,
) -> None:
    """Score a file in chunks with the same runtime the server uses."""
    import pyarrow.parquet as pq

    from shoal.errors import ValidationError
    from shoal.serving.batch import score_file

    if not input_.exists():
        raise ValidationError(f"input file {input_} does not exist")
    loaded = client(ctx).load(ref)
    total = pq.ParquetFile(input_).metadata.num_rows if input_.suffix == ".parquet" else None
    columns = [
        TextColumn("scoring"),
        BarColumn(),
        TextColumn("{task.completed:,} rows"),
        TimeElapsedColumn(),
    ]
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("score", total=total)
        rows = score_file(
            loaded.model,
            loaded.version.signature,
            input_,
            output,
            chunk_rows=chunk_rows,
            keep_columns=keep_columns,
            progress=lambda n: progress.advance(task, n),
        )
    console.print(f"scored {rows:,} rows with {loaded.version.ref} into {output}", highlight=False)
