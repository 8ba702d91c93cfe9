"""Turns a model object or file into a stored, verified package and the draft of its version."""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from shoal.errors import UnsupportedModelError, ValidationError
from shoal.registry import packaging
from shoal.registry.records import (
    ApprovalStatus,
    ArtifactInfo,
    JsonScalar,
    Lineage,
    VersionDraft,
)
from shoal.registry.refs import ModelRef
from shoal.registry.store import ArtifactStore
from shoal.runtimes.base import LoadOptions, ModelRuntime
from shoal.runtimes.signature import Signature, check_signature, infer_signature
from shoal.runtimes.table import RuntimeTable
from shoal.runtimes.tensors import as_tensors


@dataclass(frozen=True, slots=True)
class RegistrationRequest:
    """One model to register: an in-memory ``model`` or a file/folder ``path``, plus its metadata.

    ``sample_input`` (an array, DataFrame or mapping of arrays) is run through the reloaded model
    to check it predicts and to infer the signature; an explicit ``signature`` wins.
    """

    ref: ModelRef
    model: object | None = None
    path: Path | None = None
    format: str | None = None
    sample_input: object | None = None
    signature: Signature | None = None
    params: Mapping[str, JsonScalar] = field(default_factory=dict)
    metrics: Mapping[str, float] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)
    description: str = ""
    lineage: Lineage = Lineage()
    aliases: tuple[str, ...] = ()
    approval: ApprovalStatus = ApprovalStatus.PENDING
    trust: bool = False
    verify: bool = True

    def __post_init__(self) -> None:
        if self.ref.version is not None or self.ref.alias is not None:
            raise ValidationError(
                f"register takes tenant/model without a version or alias, got {self.ref}"
            )
        if (self.model is None) == (self.path is None):
            raise ValidationError(f"register {self.ref}: give exactly one of a model or a path")
        for key, metric in self.metrics.items():
            if isinstance(metric, bool) or not isinstance(metric, int | float):
                raise ValidationError(f"metric {key!r} must be a number, got {metric!r}")
        for key, param in self.params.items():
            if not isinstance(param, str | int | float | bool | type(None)):
                raise ValidationError(
                    f"param {key!r} must be a string, number, bool or null, "
                    f"got {type(param).__name__}"
                )
        for key, tag in self.tags.items():
            if not isinstance(tag, str):
                raise ValidationError(f"tag {key!r} must be a string, got {tag!r}")


class Packager:
    """Saves (or adopts) a model with its runtime, reloads it to verify, packs and stores it."""

    def __init__(self, artifacts: ArtifactStore, runtimes: RuntimeTable, options: LoadOptions):
        self._artifacts = artifacts
        self._runtimes = runtimes
        self._options = options

    def runtime_for(self, request: RegistrationRequest) -> ModelRuntime:
        if request.format is not None:
            return self._runtimes.get(request.format)
        if request.model is not None:
            return self._runtimes.for_object(request.model)
        assert request.path is not None
        if not request.path.exists():
            raise ValidationError(f"model file {request.path} does not exist")
        return self._runtimes.for_file(request.path)

    def package(self, request: RegistrationRequest, actor: str, at: datetime) -> VersionDraft:
        """Store the package of ``request`` and return its draft (not yet recorded)."""
        runtime = self.runtime_for(request)
        if runtime.name == "pickle" and not (request.trust or self._options.allow_pickle):
            raise UnsupportedModelError(
                f"register {request.ref}: the pickle format runs code when loaded; pass trust=True "
                "(--trust) if you trust where this model comes from"
            )
        with tempfile.TemporaryDirectory(prefix="shoal-package-") as tmp:
            folder = Path(tmp) / "model"
            folder.mkdir()
            if request.model is not None:
                runtime.save(request.model, folder)
            else:
                assert request.path is not None
                runtime.adopt(request.path, folder)
            signature = self._signature(request, runtime, folder)
            tags = {**request.tags, **self._fast_path(request, runtime, folder)}
            archive = packaging.pack(folder, Path(tmp) / f"package{packaging.PACKAGE_SUFFIX}")
            artifact = self._artifacts.put_file(archive)
        return VersionDraft(
            tenant=request.ref.tenant,
            model=request.ref.model,
            format=runtime.name,
            artifact=artifact,
            signature=signature,
            created_at=at,
            created_by=actor,
            params=dict(request.params),
            metrics={key: float(value) for key, value in request.metrics.items()},
            tags=tags,
            description=request.description,
            lineage=request.lineage,
            approval=request.approval,
        )

    def _signature(
        self, request: RegistrationRequest, runtime: ModelRuntime, folder: Path
    ) -> Signature:
        if request.signature is not None:
            check_signature(request.signature)
        if not request.verify:
            return request.signature or Signature()
        options = LoadOptions(
            trusted_types=self._options.trusted_types,
            allow_pickle=self._options.allow_pickle or request.trust,
        )
        loaded = runtime.load(folder, options)  # proves the stored form loads before it is kept
        if request.sample_input is None:
            return request.signature or self._declared_signature(runtime, folder)
        inputs = as_tensors(request.sample_input)
        outputs = loaded.predict(inputs)
        return request.signature or infer_signature(inputs, outputs)

    @staticmethod
    def _fast_path(
        request: RegistrationRequest, runtime: ModelRuntime, folder: Path
    ) -> dict[str, str]:
        """Store a verified ONNX form of a verified sklearn model; its outcome as tags."""
        wanted = runtime.name == "sklearn" and request.verify and request.model is not None
        if not wanted or request.sample_input is None:
            return {}
        from shoal.runtimes import fast_path

        return fast_path.attach(request.model, as_tensors(request.sample_input), folder)

    @staticmethod
    def _declared_signature(runtime: ModelRuntime, folder: Path) -> Signature:
        if runtime.name == "onnx":  # ONNX graphs declare their own inputs and outputs
            from shoal.runtimes.onnx import onnx_signature

            return onnx_signature(folder / "model.onnx")
        return Signature()

    def discard(self, artifact: ArtifactInfo, still_used: bool) -> None:
        """Remove a stored package that no recorded version refers to."""
        if not still_used:
            self._artifacts.delete(artifact.digest)
