"""A registration request as the management API's upload: the model file, base64, with its
metadata.

A model object is saved here with the same runtime the server would use (so the file is the
format's own: ``.skops``, ``.onnx``, ``.lgb``, ``.ubj``), a folder (the ``python`` format) is
sent as a deterministic tar, and the sample input as V2 tensors. The server checks all of it
again; this side only packs.
"""

from __future__ import annotations

import base64
import re
import tempfile
from pathlib import Path

import numpy as np

from shoal.errors import ValidationError
from shoal.registry import packaging
from shoal.registry.packager import RegistrationRequest
from shoal.runtimes.signature import datatype_of
from shoal.runtimes.table import RuntimeTable
from shoal.runtimes.tensors import as_tensors

_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


def upload(request: RegistrationRequest, runtimes: RuntimeTable) -> dict[str, object]:
    """The JSON body of ``POST /api/v1/models/<tenant>/<model>/versions``."""
    if request.trust:
        raise ValidationError(
            f"register {request.ref}: trust applies to an embedded client only; a server loads "
            "pickle only when it allows it itself (SHOAL_ALLOW_PICKLE)"
        )
    with tempfile.TemporaryDirectory(prefix="shoal-upload-") as tmp:
        name, content, archive, format_ = _file(request, runtimes, Path(tmp))
    body: dict[str, object] = {
        "file_name": name,
        "content_base64": base64.b64encode(content).decode("ascii"),
        "archive": archive,
        "format": format_,
        "params": dict(request.params),
        "metrics": dict(request.metrics),
        "tags": dict(request.tags),
        "description": request.description,
        "lineage": {"run_id": request.lineage.run_id, "snapshot_id": request.lineage.snapshot_id},
        "aliases": list(request.aliases),
        "approval": request.approval.value,
        "verify": request.verify,
    }
    if request.sample_input is not None:
        body["sample_input"] = sample_tensors(request.sample_input)
    if request.signature is not None:
        body["signature"] = request.signature.to_dict()
    return body


def _file(
    request: RegistrationRequest, runtimes: RuntimeTable, tmp: Path
) -> tuple[str, bytes, bool, str | None]:
    """(file name, bytes, whether it is a tar of a folder, format name or None)."""
    if request.model is not None:
        runtime = (
            runtimes.get(request.format)
            if request.format is not None
            else runtimes.for_object(request.model)
        )
        folder = tmp / "model"
        folder.mkdir()
        runtime.save(request.model, folder)
        files = [p for p in folder.iterdir() if p.is_file() and p.suffix in runtime.file_suffixes]
        if runtime.name == "python" or len(files) != 1:
            return "model.tar", _tar(folder, tmp), True, runtime.name
        return files[0].name, files[0].read_bytes(), False, runtime.name
    assert request.path is not None
    path = request.path
    if not path.exists():
        raise ValidationError(f"model file {path} does not exist")
    if path.is_dir():
        return "model.tar", _tar(path, tmp), True, request.format
    name = path.name if _SAFE_NAME.fullmatch(path.name) else f"model{path.suffix.lower()}"
    return name, path.read_bytes(), False, request.format


def _tar(folder: Path, tmp: Path) -> bytes:
    return packaging.pack(folder, tmp / "upload.tar").read_bytes()


def sample_tensors(sample: object) -> list[dict[str, object]]:
    """A sample input (array, DataFrame, named arrays) as V2 tensors with JSON data."""
    tensors: list[dict[str, object]] = []
    for name, value in as_tensors(sample).items():
        array = np.asarray(value)
        datatype = datatype_of(array)
        data = array.ravel().tolist()
        if datatype == "BYTES":
            data = [v.decode() if isinstance(v, bytes) else str(v) for v in data]
        tensors.append(
            {"name": name, "datatype": datatype, "shape": list(array.shape), "data": data}
        )
    return tensors
