"""Batch scoring: a Parquet or CSV file through a loaded model, chunk by chunk, into Parquet/CSV."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
from numpy.typing import NDArray

from shoal.errors import ValidationError
from shoal.runtimes.base import LoadedModel
from shoal.runtimes.signature import Signature
from shoal.serving.validation import check_inputs

Progress = Callable[[int], None]


def _chunks(path: Path, rows: int) -> Iterator[pd.DataFrame]:
    if path.suffix == ".parquet":
        for batch in pq.ParquetFile(path).iter_batches(batch_size=rows):
            yield batch.to_pandas()
    elif path.suffix == ".csv":
        reader = pa_csv.open_csv(path, read_options=pa_csv.ReadOptions(block_size=1 << 22))
        for batch in reader:
            yield batch.to_pandas()
    else:
        raise ValidationError(f"input {path}: use a .parquet or .csv file")


def frame_inputs(frame: pd.DataFrame, signature: Signature) -> dict[str, NDArray[np.generic]]:
    """Columns as the model's inputs: one tensor per named input, or all columns as one matrix."""
    specs = signature.inputs
    if len(specs) == 1 and len(specs[0].shape) == 2 and specs[0].name not in frame.columns:
        width = specs[0].shape[1]
        if width not in (-1, frame.shape[1]):
            raise ValidationError(
                f"the input has {frame.shape[1]} columns; the model expects {width} features"
            )
        return {specs[0].name: frame.to_numpy()}
    return {str(column): frame[column].to_numpy() for column in frame.columns}


def output_frame(outputs: dict[str, NDArray[np.generic]]) -> pd.DataFrame:
    """Outputs as columns; a 2-D output ``probabilities`` becomes ``probabilities_0..k``."""
    columns: dict[str, NDArray[np.generic]] = {}
    for name, array in outputs.items():
        if array.ndim == 1:
            columns[name] = array
        else:
            flat = array.reshape(array.shape[0], -1)
            for i in range(flat.shape[1]):
                columns[f"{name}_{i}"] = flat[:, i]
    return pd.DataFrame(columns)


def score_file(
    model: LoadedModel,
    signature: Signature,
    source: Path,
    dest: Path,
    chunk_rows: int = 50_000,
    keep_columns: bool = False,
    progress: Progress | None = None,
) -> int:
    """Score ``source`` into ``dest`` (``.parquet`` or ``.csv``); returns the rows written.

    The output is written to a temp file and renamed at the end, so a failure leaves no half file.
    """
    if dest.suffix not in (".parquet", ".csv"):
        raise ValidationError(f"output {dest}: use a .parquet or .csv file")
    tmp = dest.with_name(f".{dest.name}.partial")
    writer: pq.ParquetWriter | None = None
    rows = 0
    try:
        for index, frame in enumerate(_chunks(source, chunk_rows)):
            outputs = model.predict(check_inputs(signature, frame_inputs(frame, signature)))
            scored = output_frame(outputs)
            if keep_columns:
                scored = pd.concat([frame.reset_index(drop=True), scored], axis=1)
            if dest.suffix == ".csv":
                scored.to_csv(tmp, mode="a", header=index == 0, index=False)
            else:
                table = pa.Table.from_pandas(scored, preserve_index=False)
                if writer is None:
                    writer = pq.ParquetWriter(tmp, table.schema)
                writer.write_table(table)
            rows += len(frame)
            if progress is not None:
                progress(len(frame))
        if writer is not None:
            writer.close()
            writer = None
        if rows == 0:
            raise ValidationError(f"input {source} has no rows")
        tmp.replace(dest)
    finally:
        if writer is not None:
            writer.close()
        tmp.unlink(missing_ok=True)
    return rows
