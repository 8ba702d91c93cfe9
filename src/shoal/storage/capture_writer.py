"""``CaptureFiles``: captured inferences, hourly-partitioned Parquet or JSONL in the artifact store.

Layout, under the artifact store's root on any fsspec filesystem::

    capture/<tenant>/<model>/date=YYYY-MM-DD/hour=HH/part-<UTC time>-<writer>-<n>.parquet

(Hive-style partitions, so DuckDB, pandas and Spark read a tree of them as one table.) Paths are
built only from names that pass ``registry.names.check_name``. Each file is published whole: a
local one is written beside its final name as a dot file and renamed (atomic); a remote one is
one PUT. One row per inference: ``inference_id``, ``tenant``, ``model``, ``model_version``,
``timestamp`` (UTC), ``request`` and ``response``: V2 JSON documents — the bodies exactly as sent
and returned, or, for a body with binary tensor data, its tensors encoded here, on the writer
thread, as ``{"inputs": [...]}`` / ``{"outputs": [...]}``.
"""

from __future__ import annotations

import io
import itertools
import logging
import os
import re
import secrets
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from functools import cache
from typing import TYPE_CHECKING

import fsspec
import numpy as np
import orjson
from fsspec.implementations.local import LocalFileSystem
from numpy.typing import NDArray

from shoal.errors import ArtifactError, ValidationError
from shoal.observability.capture import (
    CHUNK_ROWS,
    CapturePartition,
    CaptureRecord,
    Tensors,
    yield_to_requests,
)
from shoal.registry.names import check_name
from shoal.runtimes.signature import datatype_of, numpy_dtype

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

# pyarrow and pandas are imported when a file is first written or read, not with this module:
# a server that captures nothing would otherwise carry ~100 MiB more resident memory for them.

logger = logging.getLogger(__name__)

CAPTURE_DIR = "capture"


@cache
def schema() -> pa.Schema:
    """The columns of a capture file."""
    import pyarrow as pa

    return pa.schema(
        [
            ("inference_id", pa.string()),
            ("tenant", pa.string()),
            ("model", pa.string()),
            ("model_version", pa.int64()),
            ("timestamp", pa.timestamp("us", tz="UTC")),
            ("request", pa.string()),
            ("response", pa.string()),
        ]
    )


_PARTITION = re.compile(r"/date=(\d{4}-\d{2}-\d{2})/hour=(\d{2})/part-[^/]+\.(parquet|jsonl)$")


class CaptureFormat(StrEnum):
    PARQUET = "parquet"
    JSONL = "jsonl"


def _data(array: NDArray[np.generic]) -> bytes:
    flat = array.ravel()  # row-major, contiguous: what orjson serialises natively
    if flat.dtype.kind in "OUS":
        return orjson.dumps(
            [v.decode(errors="replace") if isinstance(v, bytes) else str(v) for v in flat]
        )
    if flat.dtype.kind in "biuf":
        return orjson.dumps(flat, option=orjson.OPT_SERIALIZE_NUMPY)
    return orjson.dumps(flat.tolist())


class TensorJson:
    """Tensors as V2 JSON (``{"inputs": [{"name", "datatype", "shape", "data"}, ...]}``).

    Records of one model repeat the same names, datatypes and shapes, so the JSON before each
    tensor's data is built once and reused (that and orjson's numpy support make a row a few
    microseconds of the writer thread). Not thread-safe: one per writer.
    """

    MAX_HEADS = 10_000

    def __init__(self) -> None:
        self._heads: dict[tuple[str, str, tuple[int, ...]], bytes] = {}

    def document(self, key: str, body: bytes | Tensors) -> bytes:
        """``body`` if it is already a V2 JSON document, else its tensors encoded under ``key``."""
        return body if isinstance(body, bytes) else self.encode(key, body)

    def encode(self, key: str, tensors: Tensors) -> bytes:
        entries = []
        for name, array in tensors.items():
            head = self._heads.get((name, array.dtype.str, array.shape))
            if head is None:
                head = self._head(name, array)
            entries.append(head + _data(array) + b"}")
        return b'{"' + key.encode() + b'":[' + b",".join(entries) + b"]}"

    def _head(self, name: str, array: NDArray[np.generic]) -> bytes:
        spec = {"name": name, "datatype": datatype_of(array), "shape": list(array.shape)}
        head = orjson.dumps(spec)[:-1] + b',"data":'
        if len(self._heads) >= self.MAX_HEADS:
            self._heads.clear()
        self._heads[(name, array.dtype.str, array.shape)] = head
        return head


def decode_tensors(document: str | bytes) -> dict[str, NDArray[np.generic]]:
    """The tensors of a captured ``request`` or ``response`` as numpy arrays, by name."""
    parsed = orjson.loads(document)
    entries = parsed.get("inputs", parsed.get("outputs")) if isinstance(parsed, dict) else None
    if not isinstance(entries, list):
        raise ValidationError("a captured document holds 'inputs' or 'outputs', a list")
    out: dict[str, NDArray[np.generic]] = {}
    for entry in entries:
        dtype = numpy_dtype(entry["datatype"])
        if entry["datatype"] == "BYTES":
            flat = _flatten(entry["data"])
            array = np.array([str(v).encode() for v in flat], dtype=np.object_)
        else:
            array = np.asarray(entry["data"], dtype=dtype)  # flat or nested, as V2 allows
        out[entry["name"]] = array.reshape(entry["shape"])
    return out


def _flatten(data: object) -> list[object]:
    if not isinstance(data, list):
        return [data]
    return [item for part in data for item in _flatten(part)]


class CaptureFiles:
    """The capture tree under ``<url>/capture``: a ``CaptureSink`` that writes, and a reader."""

    def __init__(
        self,
        url: str,
        storage_options: Mapping[str, object] | None = None,
        file_format: CaptureFormat = CaptureFormat.PARQUET,
    ) -> None:
        try:
            fs, root = fsspec.core.url_to_fs(url, **dict(storage_options or {}))
        except (ValueError, ImportError, OSError) as exc:
            raise ArtifactError(f"cannot open artifact store {url!r}: {exc}") from exc
        self._fs = fs
        self._local = isinstance(fs, LocalFileSystem)
        self._root = f"{str(root).rstrip('/')}/{CAPTURE_DIR}"
        self._format = CaptureFormat(file_format)
        self._writer_pid = -1
        self._writer_tag = ""
        self._sequence = itertools.count()
        self._json = TensorJson()

    @property
    def root(self) -> str:
        return self._root

    def model_dir(self, tenant: str, model: str) -> str:
        """Where one model's capture files live; only from valid names (no traversal)."""
        return f"{self._root}/{check_name(tenant, 'tenant name')}/{check_name(model, 'model name')}"

    def partition_dir(self, partition: CapturePartition) -> str:
        hour = partition.hour.astimezone(UTC)
        base = self.model_dir(partition.tenant, partition.model)
        return f"{base}/date={hour:%Y-%m-%d}/hour={hour:%H}"

    # -- writing (the CaptureSink) ---------------------------------------------------------

    def write(self, partition: CapturePartition, records: Sequence[CaptureRecord]) -> str:
        """Write ``records`` as one new file of ``partition``; returns its path."""
        if self._writer_pid != os.getpid():  # a forked process writes under its own name
            self._writer_pid, self._writer_tag = os.getpid(), secrets.token_hex(4)
        name = (
            f"part-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{self._writer_tag}-"
            f"{next(self._sequence):06d}.{self._format.value}"
        )
        path = f"{self.partition_dir(partition)}/{name}"
        if self._format is CaptureFormat.PARQUET:
            data = self._parquet(records)
        else:
            data = _jsonl(records, self._json)
        self._publish(path, data)
        return path

    def close(self) -> None:
        """Nothing to let go of: each file is written and closed whole."""

    def _parquet(self, records: Sequence[CaptureRecord]) -> bytes:
        import pyarrow as pa
        import pyarrow.parquet as pq

        tables = []
        for start in range(0, len(records), CHUNK_ROWS):
            tables.append(pa.Table.from_pydict(self._columns(records[start : start + CHUNK_ROWS])))
            yield_to_requests()
        table = pa.concat_tables(tables)
        buffer = io.BytesIO()
        pq.write_table(table, buffer, compression="zstd")
        return buffer.getvalue()

    def _columns(self, records: Sequence[CaptureRecord]) -> dict[str, pa.Array]:
        import pyarrow as pa

        # One transposition in C, then whole columns: the writer shares the interpreter lock
        # with the request path, so it spends as little Python per row as it can.
        ids, tenants, models, versions, stamps, requests, responses, _ = zip(*records, strict=True)
        columns = {
            "inference_id": ids,
            "tenant": tenants,
            "model": models,
            "model_version": versions,
            "timestamp": np.rint(np.array(stamps, dtype=np.float64) * 1e6).astype(np.int64),
        }
        arrays = {
            name: pa.array(values, schema().field(name).type) for name, values in columns.items()
        }
        arrays["request"] = _text_column("request", self._documents("inputs", requests))
        arrays["response"] = _text_column("response", self._documents("outputs", responses))
        return {field.name: arrays[field.name] for field in schema()}

    def _documents(self, key: str, bodies: Sequence[bytes | Tensors]) -> Sequence[bytes]:
        """The V2 JSON of each body: as it is when all are JSON already (the usual case)."""
        if all(map(isinstance, bodies, itertools.repeat(bytes))):
            return bodies  # type: ignore[return-value]
        return [self._json.document(key, body) for body in bodies]

    def _publish(self, path: str, data: bytes) -> None:
        if not self._local:
            self._fs.pipe_file(path, data)  # one PUT: the object appears whole
            return
        directory, name = path.rsplit("/", 1)
        os.makedirs(directory, exist_ok=True)
        temp = f"{directory}/.{name}.tmp"  # dot files are never read as captures
        try:
            with open(temp, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temp, path)
        finally:
            if os.path.exists(temp):
                os.unlink(temp)

    # -- reading ---------------------------------------------------------------------------

    def files(
        self, tenant: str, model: str, start: datetime | None = None, end: datetime | None = None
    ) -> list[str]:
        """The model's capture files whose hour overlaps [start, end), oldest hour first."""
        base = self.model_dir(tenant, model)
        if not self._fs.exists(base):
            return []
        found: list[tuple[datetime, str]] = []
        for path in self._candidates(base, start, end):
            match = _PARTITION.search(str(path))
            if match is None:
                continue
            hour = datetime.strptime(f"{match[1]}T{match[2]}", "%Y-%m-%dT%H").replace(tzinfo=UTC)
            if (start is None or hour + timedelta(hours=1) > start) and (end is None or hour < end):
                found.append((hour, str(path)))
        return [path for _, path in sorted(found)]

    def _candidates(self, base: str, start: datetime | None, end: datetime | None) -> list[str]:
        # A short range lists its hour folders only; anything else walks the model's tree.
        if start is None or end is None or end - start > timedelta(days=2):
            return [str(path) for path in self._fs.find(base)]
        hour = start.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        paths: list[str] = []
        while hour < end:
            folder = f"{base}/date={hour:%Y-%m-%d}/hour={hour:%H}"
            if self._fs.exists(folder):
                paths.extend(str(path) for path in self._fs.ls(folder, detail=False))
            hour += timedelta(hours=1)
        return paths

    def read(
        self, tenant: str, model: str, start: datetime | None = None, end: datetime | None = None
    ) -> pd.DataFrame:
        """The model's captured inferences with ``start <= timestamp < end``, oldest first."""
        import pandas as pd
        import pyarrow as pa

        tables = [self._read_file(path) for path in self.files(tenant, model, start, end)]
        table = pa.concat_tables(tables) if tables else schema().empty_table()
        frame: pd.DataFrame = table.to_pandas()
        if start is not None:
            frame = frame[frame["timestamp"] >= pd.Timestamp(start)]
        if end is not None:
            frame = frame[frame["timestamp"] < pd.Timestamp(end)]
        return frame.sort_values(["timestamp", "inference_id"], kind="stable").reset_index(
            drop=True
        )

    def read_hour(self, tenant: str, model: str, hour: datetime) -> pd.DataFrame:
        start = hour.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        return self.read(tenant, model, start, start + timedelta(hours=1))

    def _read_file(self, path: str) -> pa.Table:
        try:
            with self._fs.open(path, "rb") as stream:
                raw = stream.read()
        except OSError as exc:
            raise ArtifactError(f"could not read capture file {path!r}: {exc}") from exc
        if path.endswith(".parquet"):
            import pyarrow.parquet as pq

            return pq.read_table(io.BytesIO(raw), schema=schema())
        return _jsonl_table(raw)


def _text_column(name: str, bodies: Sequence[bytes]) -> pa.Array:
    """JSON bodies as a string column: a binary array (a copy), then cast to string.

    The cast checks UTF-8 over the whole buffer at once; asking pyarrow for strings from bytes
    checks them one object at a time (1.6 µs a row for a 250-byte body against 0.1 µs, most of
    the writer's time per row).
    """
    import pyarrow as pa

    try:
        return pa.array(bodies, pa.binary()).cast(pa.string())
    except pa.ArrowInvalid as exc:
        raise ValidationError(f"a captured {name} body is not UTF-8 JSON: {exc}") from exc


def _jsonl(records: Sequence[CaptureRecord], json: TensorJson) -> bytes:
    lines = []
    for n, r in enumerate(records, 1):
        if n % CHUNK_ROWS == 0:
            yield_to_requests()
        at = datetime.fromtimestamp(r.timestamp, UTC)
        fields = {
            "inference_id": r.inference_id,
            "tenant": r.tenant,
            "model": r.model,
            "model_version": r.version,
            "timestamp": at.isoformat(timespec="microseconds"),
        }
        head = orjson.dumps(fields)[:-1]
        request, response = json.document("inputs", r.request), json.document("outputs", r.response)
        lines.append(
            head
            + b',"request":'
            + _one_line(request)
            + b',"response":'
            + _one_line(response)
            + b"}"
        )
    return b"\n".join(lines) + b"\n"


def _one_line(document: bytes) -> bytes:
    # A body as sent may be pretty-printed; line breaks in JSON are only ever white space.
    if b"\n" in document or b"\r" in document:
        return document.replace(b"\r", b" ").replace(b"\n", b" ")
    return document


def _jsonl_table(raw: bytes) -> pa.Table:
    import pyarrow as pa

    rows = [orjson.loads(line) for line in raw.splitlines() if line.strip()]
    columns: dict[str, list[object]] = {
        "inference_id": [row["inference_id"] for row in rows],
        "tenant": [row["tenant"] for row in rows],
        "model": [row["model"] for row in rows],
        "model_version": [row["model_version"] for row in rows],
        "timestamp": [datetime.fromisoformat(row["timestamp"]) for row in rows],
        "request": [orjson.dumps(row["request"]).decode() for row in rows],
        "response": [orjson.dumps(row["response"]).decode() for row in rows],
    }
    return pa.Table.from_pydict(columns, schema=schema())
