"""``POST /api/v1/.../versions``: register uploaded model files, one or many in a transaction.

An upload is untrusted input, so it is staged with care before the registry sees it:

- the file lands in a fresh temporary folder under a checked base name (no path in it);
- an ``archive`` (a folder, e.g. the ``python`` format) must be an *uncompressed* tar: no
  decompression bombs, members are counted and sized before extraction, and the ``data``
  filter refuses absolute paths, ``..``, links out of the folder and device files;
- pickle files register only when the server allows pickle (``SHOAL_ALLOW_PICKLE``): the
  client cannot ask for trust;
- a ``.skops`` file is loaded with skops' trusted types only and registered as the estimator,
  so it gets the same verified fast path as one registered from Python;
- the body's size is capped by the router (``ServerConfig.max_upload_bytes``, 413 above).
"""

from __future__ import annotations

import base64
import binascii
import io
import re
import tarfile
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path

import orjson
from fastapi import APIRouter

from shoal.api.errors import ERROR_RESPONSES
from shoal.api.management.context import Services, Who, actor_of, admin
from shoal.api.management.limits import UploadRoute
from shoal.api.management.schemas import BatchRegistrationIn, RegistrationIn, VersionOut
from shoal.api.v2.codec import decode_request
from shoal.errors import RuntimeLoadError, UnsupportedModelError, ValidationError
from shoal.registry.packager import RegistrationRequest
from shoal.registry.records import Lineage
from shoal.registry.refs import ModelRef
from shoal.runtimes.signature import Signature, TensorSpec

router = APIRouter(
    prefix="/api/v1", tags=["models"], responses=ERROR_RESPONSES, route_class=UploadRoute
)

FILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
MAX_ARCHIVE_MEMBERS = 10_000


@router.post(
    "/models/{tenant}/{model}/versions",
    status_code=201,
    summary="Register a new version from an uploaded model file",
)
def register(
    tenant: str, model: str, body: RegistrationIn, who: Who, services: Services
) -> VersionOut:
    admin(who, "registering a model")
    with staged([(ModelRef(tenant, model), body)]) as requests:
        version = services.registry.register(requests[0], actor_of(who, services))
    return VersionOut.model_validate(version)


@router.post(
    "/registrations",
    status_code=201,
    summary="Register several versions in one metadata transaction (all or none)",
)
def register_many(body: BatchRegistrationIn, who: Who, services: Services) -> list[VersionOut]:
    admin(who, "registering models")
    items = [(ModelRef(item.tenant, item.model), item) for item in body.versions]
    with staged(items) as requests:
        versions = services.registry.register_many(requests, actor_of(who, services))
    return [VersionOut.model_validate(version) for version in versions]


@contextmanager
def staged(
    uploads: Sequence[tuple[ModelRef, RegistrationIn]],
) -> Iterator[list[RegistrationRequest]]:
    """Registration requests for uploads, their files in temporary folders for the duration."""
    with ExitStack() as stack:
        requests = []
        for ref, upload in uploads:
            folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="shoal-upload-")))
            requests.append(_request(ref, upload, folder))
        yield requests


def _request(ref: ModelRef, upload: RegistrationIn, folder: Path) -> RegistrationRequest:
    staged_path = _stage(upload, folder)
    sample = _sample(upload)
    model: object | None = None
    path: Path | None = staged_path
    if _is_skops(upload) and upload.verify and sample is not None:
        model, path = _estimator(staged_path), None
    signature = None
    if upload.signature is not None:
        signature = Signature(
            tuple(TensorSpec(s.name, s.datatype, tuple(s.shape)) for s in upload.signature.inputs),
            tuple(TensorSpec(s.name, s.datatype, tuple(s.shape)) for s in upload.signature.outputs),
        )
    return RegistrationRequest(
        ref=ref,
        model=model,
        path=path,
        format=upload.format,
        sample_input=sample,
        signature=signature,
        params=upload.params,
        metrics=upload.metrics,
        tags=upload.tags,
        description=upload.description,
        lineage=Lineage(upload.lineage.run_id, upload.lineage.snapshot_id),
        aliases=tuple(upload.aliases),
        approval=upload.approval,
        trust=False,  # only the server's own setting may allow pickle
        verify=upload.verify,
    )


def _stage(upload: RegistrationIn, folder: Path) -> Path:
    name = upload.file_name
    if not FILE_NAME.fullmatch(name) or ".." in name:
        raise ValidationError(
            f"file_name {name!r} is not allowed: give a base name of 1-128 characters of "
            "A-Z a-z 0-9 . _ - (no path), ending in the model's suffix"
        )
    try:
        content = base64.b64decode(upload.content_base64, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValidationError(f"content_base64 of {name!r} is not valid base64: {exc}") from None
    if not content:
        raise ValidationError(f"content_base64 of {name!r} is empty")
    if upload.archive:
        return _unpack(content, name, folder / "model", limit=len(content))
    path = folder / name
    path.write_bytes(content)
    return path


def _unpack(content: bytes, name: str, dest: Path, limit: int) -> Path:
    """Extract an uncompressed tar safely (see the module docstring)."""
    try:
        with tarfile.open(fileobj=io.BytesIO(content), mode="r:") as archive:
            members = archive.getmembers()
            if len(members) > MAX_ARCHIVE_MEMBERS:
                raise ValidationError(
                    f"archive {name!r} has {len(members):,} members, more than "
                    f"{MAX_ARCHIVE_MEMBERS:,}"
                )
            if sum(member.size for member in members) > limit:
                raise ValidationError(f"archive {name!r} unpacks to more than it holds")
            dest.mkdir()
            archive.extractall(dest, filter="data")
    except (tarfile.TarError, OSError) as exc:
        raise ValidationError(
            f"archive {name!r} is not a safe, uncompressed tar of a model folder: {exc}"
        ) from None
    return dest


def _sample(upload: RegistrationIn) -> dict[str, object] | None:
    if upload.sample_input is None:
        return None
    # The V2 codec's rules and messages, so a sample is read exactly as an inference input.
    document = {"inputs": [tensor.model_dump() for tensor in upload.sample_input]}
    try:
        body = orjson.dumps(document)
    except TypeError as exc:
        raise ValidationError(f"sample_input holds values JSON cannot carry: {exc}") from None
    return dict(decode_request(body, None).inputs)


def _is_skops(upload: RegistrationIn) -> bool:
    if upload.archive:
        return False
    if upload.format is not None:
        return upload.format == "sklearn"
    return upload.file_name.lower().endswith(".skops")


def _estimator(path: Path) -> object:
    from shoal.runtimes.base import LoadOptions
    from shoal.runtimes.sklearn import load_estimator

    try:
        return load_estimator(path, LoadOptions())
    except RuntimeLoadError as exc:
        raise UnsupportedModelError(f"sklearn: cannot adopt {path.name}: {exc}") from exc
