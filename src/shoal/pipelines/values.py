"""Step outputs stored by type in the content-addressed store, and read back; never pickle.

DataFrames and Series become Parquet, arrays ``.npy`` (object arrays refused), bytes stay bytes,
JSON-able values canonical JSON (sorted keys), and models the registry's package format (saved
by their runtime, packed into a deterministic tar). The same value always gives the same bytes,
so a deterministic step gives the same digest on every run.
"""

from __future__ import annotations

import hashlib
import io
import re
import tempfile
import zipfile
from pathlib import Path

import orjson

from shoal.errors import UnsupportedModelError, ValidationError
from shoal.pipelines.environment import StepEnvironment
from shoal.pipelines.records import ValueRef
from shoal.registry import packaging

INLINE_LIMIT = 2048
"""Outputs up to this many bytes are kept in the item record instead of a separate blob."""

JSON = "json"
PARQUET = "parquet"
SERIES = "parquet-series"
NPY = "npy"
BYTES = "bytes"
MODEL_PREFIX = "model:"


def digest_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def encode(value: object, env: StepEnvironment) -> tuple[str, bytes]:
    """The format and bytes of ``value``; ``ValidationError`` for a type Shoal cannot store."""
    if value is None or isinstance(value, bool | int | float | str | list | tuple | dict):
        try:
            return JSON, orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
        except TypeError as exc:
            raise ValidationError(f"cannot store {_describe(value)} as JSON: {exc}") from exc
    if isinstance(value, bytes | bytearray | memoryview):
        return BYTES, bytes(value)
    module = type(value).__module__.split(".")[0]
    if module == "pandas":
        return _encode_pandas(value)
    if module == "numpy":
        return _encode_numpy(value)
    return _encode_model(value, env)


def _encode_pandas(value: object) -> tuple[str, bytes]:
    import pandas as pd

    buffer = io.BytesIO()
    if isinstance(value, pd.DataFrame):
        value.to_parquet(buffer, engine="pyarrow")
        return PARQUET, buffer.getvalue()
    if isinstance(value, pd.Series):
        frame = value.to_frame(name="__value__" if value.name is None else value.name)
        frame.to_parquet(buffer, engine="pyarrow")
        return SERIES, buffer.getvalue()
    raise ValidationError(f"cannot store {_describe(value)}: return a DataFrame or a Series")


def _encode_numpy(value: object) -> tuple[str, bytes]:
    import numpy as np

    if isinstance(value, np.generic):
        return JSON, orjson.dumps(value.item())
    if not isinstance(value, np.ndarray):
        raise ValidationError(f"cannot store {_describe(value)}")
    if value.dtype.hasobject:
        raise ValidationError("cannot store an object array (it would need pickle)")
    buffer = io.BytesIO()
    np.save(buffer, value, allow_pickle=False)
    return NPY, buffer.getvalue()


def _encode_model(value: object, env: StepEnvironment) -> tuple[str, bytes]:
    try:
        runtime = env.runtimes.for_object(value)
    except UnsupportedModelError as exc:
        raise ValidationError(
            f"cannot store {_describe(value)}: steps return DataFrames, Series, arrays, bytes, "
            f"JSON values (str, numbers, bool, None, lists, dicts) or models ({exc})"
        ) from exc
    with tempfile.TemporaryDirectory(prefix="shoal-output-") as tmp:
        folder = Path(tmp) / "model"
        folder.mkdir()
        runtime.save(value, folder)
        _normalise_zips(folder)
        archive = packaging.pack(folder, Path(tmp) / f"model{packaging.PACKAGE_SUFFIX}")
        return MODEL_PREFIX + runtime.name, archive.read_bytes()


def _normalise_zips(folder: Path) -> None:
    """Rewrite zip files (skops) canonically: the same model must give the same bytes.

    Zip entries carry the time they were written, and skops names arrays and shared objects
    after ``id()`` (memory addresses); both are replaced by fixed values (ids renumbered in
    order of appearance, which keeps shared references shared).
    """
    for path in sorted(folder.rglob("*")):
        if path.is_file() and zipfile.is_zipfile(path):
            rewritten = path.with_name(path.name + ".canonical")
            _canonical_zip(path, rewritten)
            rewritten.replace(path)


def _canonical_zip(source_path: Path, dest: Path) -> None:
    with zipfile.ZipFile(source_path) as source, zipfile.ZipFile(dest, "w") as target:
        names = source.namelist()
        schema = source.read("schema.json").decode() if "schema.json" in names else ""
        numbers: dict[str, str] = {}
        for match in _SKOPS_ID.finditer(schema):
            numbers.setdefault(match.group(1) or match.group(2), str(len(numbers) + 1))
        entries = []
        for info in source.infolist():
            data = source.read(info.filename)
            name = info.filename
            if name.endswith(".npy"):
                name = f"{numbers.get(name[:-4], name[:-4])}.npy"
            elif name == "schema.json":
                data = _SKOPS_ID.sub(lambda m: _renumbered(m, numbers), schema).encode()
            entries.append((name, info, data))
        for name, info, data in sorted(entries, key=lambda entry: entry[0]):
            entry = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            entry.compress_type = info.compress_type
            entry.external_attr = info.external_attr
            target.writestr(entry, data)


def _renumbered(match: re.Match[str], numbers: dict[str, str]) -> str:
    number = match.group(1) or match.group(2)
    return match.group(0).replace(number, numbers[number])


_SKOPS_ID = re.compile(r'"__id__": (\d+)|"(\d+)\.npy"')


def store(value: object, env: StepEnvironment) -> ValueRef:
    """Encode ``value`` and keep it: inline when small, else in the artifact store."""
    fmt, data = encode(value, env)
    if len(data) <= INLINE_LIMIT:
        return ValueRef(digest_of(data), len(data), fmt, data)
    info = env.artifacts.put_bytes(data)
    return ValueRef(info.digest, info.size, fmt)


def read_bytes(ref: ValueRef, env: StepEnvironment) -> bytes:
    if ref.inline is not None:
        return ref.inline
    return env.artifacts.read_bytes(ref.digest)


def load(ref: ValueRef, env: StepEnvironment) -> object:
    """The value ``ref`` stands for, decoded by its format."""
    data = read_bytes(ref, env)
    if ref.format == JSON:
        return orjson.loads(data)
    if ref.format == BYTES:
        return data
    if ref.format in (PARQUET, SERIES):
        import pandas as pd

        frame = pd.read_parquet(io.BytesIO(data), engine="pyarrow")
        if ref.format == PARQUET:
            return frame
        series = frame.iloc[:, 0]
        return series.rename(None) if series.name == "__value__" else series
    if ref.format == NPY:
        import numpy as np

        return np.load(io.BytesIO(data), allow_pickle=False)
    if ref.format.startswith(MODEL_PREFIX):
        return _load_model(ref, data, env)
    raise ValidationError(f"unknown stored value format {ref.format!r} (artifact {ref.digest})")


def _load_model(ref: ValueRef, data: bytes, env: StepEnvironment) -> object:
    runtime = env.runtimes.get(ref.format.removeprefix(MODEL_PREFIX))
    folder = env.scratch / "models" / ref.digest
    if not folder.exists():
        folder.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=folder.parent) as tmp:
            archive = Path(tmp) / f"model{packaging.PACKAGE_SUFFIX}"
            archive.write_bytes(data)
            packaging.unpack(archive, folder)
    loaded = runtime.load(folder, env.load_options)
    # Steps get the framework's object back (a fitted estimator), not the serving wrapper.
    return getattr(loaded, "estimator", loaded)


def _describe(value: object) -> str:
    kind = type(value)
    return f"a {kind.__module__}.{kind.__qualname__}"
