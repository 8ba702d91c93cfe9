"""Bulk import: a folder tree ``ROOT/<tenant>/<model>/`` becomes one new version per model folder.

A model folder holds one model file with a known ending (``model.skops``, ``model.onnx``, ...), or
a python-format folder (``shoal-python.json``), and optionally ``shoal-model.json`` with metadata::

    {"format": "onnx", "file": "model.onnx", "description": "...", "params": {...},
     "metrics": {"auc": 0.91}, "tags": {"team": "ml"}, "aliases": ["production"],
     "approval": "approved", "signature": {"inputs": [...], "outputs": [...]}}
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from shoal.errors import ShoalError, ValidationError
from shoal.registry.packager import RegistrationRequest
from shoal.registry.records import ApprovalStatus, ModelVersion
from shoal.registry.refs import ModelRef
from shoal.runtimes.signature import Signature

MANIFEST = "shoal-model.json"
PYTHON_MANIFEST = "shoal-python.json"


@dataclass(frozen=True, slots=True)
class ImportProblem:
    """A model folder that could not be imported, and why."""

    path: Path
    message: str


@dataclass(slots=True)
class ImportReport:
    """What an import registered and what it skipped."""

    registered: list[ModelVersion] = field(default_factory=list)
    problems: list[ImportProblem] = field(default_factory=list)


def _model_folders(root: Path) -> Iterator[tuple[str, str, Path]]:
    for tenant_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        for model_dir in sorted(p for p in tenant_dir.iterdir() if p.is_dir()):
            yield tenant_dir.name, model_dir.name, model_dir


def _read_manifest(folder: Path) -> Mapping[str, object]:
    path = folder / MANIFEST
    if not path.exists():
        return {}
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValidationError(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(manifest, dict):
        raise ValidationError(f"{path} must hold a JSON object")
    return manifest


def _model_path(folder: Path, manifest: Mapping[str, object]) -> Path:
    named = manifest.get("file")
    if named is not None:
        path = (folder / str(named)).resolve()
        if not path.is_relative_to(folder.resolve()) or not path.exists():
            raise ValidationError(f"{folder / MANIFEST}: file {named!r} is not inside {folder}")
        return path
    if (folder / PYTHON_MANIFEST).exists():
        return folder
    files = [p for p in folder.iterdir() if p.name != MANIFEST and not p.name.startswith(".")]
    if len(files) != 1:
        raise ValidationError(
            f"{folder} holds {len(files)} files; keep one model file or name it in {MANIFEST}"
        )
    return files[0]


def _mapping(manifest: Mapping[str, object], key: str) -> dict[str, object]:
    value = manifest.get(key, {})
    if not isinstance(value, dict):
        raise ValidationError(f"{MANIFEST}: {key!r} must be an object")
    return value


def request_for(
    tenant: str, model: str, folder: Path, trust: bool = False, verify: bool = True
) -> RegistrationRequest:
    """The registration request for one model folder; ``ValidationError`` says what is wrong."""
    manifest = _read_manifest(folder)
    aliases = manifest.get("aliases", [])
    if not isinstance(aliases, list):
        raise ValidationError(f"{folder / MANIFEST}: 'aliases' must be a list")
    signature = manifest.get("signature")
    fmt = manifest.get("format")
    return RegistrationRequest(
        ref=ModelRef(tenant, model),
        path=_model_path(folder, manifest),
        format=str(fmt) if fmt is not None else None,
        signature=Signature.from_dict(signature) if isinstance(signature, dict) else None,
        params=_mapping(manifest, "params"),  # type: ignore[arg-type]  # checked by the request
        metrics=_mapping(manifest, "metrics"),  # type: ignore[arg-type]
        tags=_mapping(manifest, "tags"),  # type: ignore[arg-type]
        description=str(manifest.get("description", "")),
        aliases=tuple(str(alias) for alias in aliases),
        approval=ApprovalStatus(str(manifest.get("approval", ApprovalStatus.PENDING))),
        trust=trust,
        verify=verify,
    )


def import_tree(
    root: Path,
    register: Callable[[list[RegistrationRequest]], list[ModelVersion]],
    trust: bool = False,
    verify: bool = True,
    batch_size: int = 500,
) -> ImportReport:
    """Register every model folder under ``root``, ``batch_size`` per metadata transaction.

    A folder that cannot be imported is reported and skipped; the rest are still registered.
    A batch that fails is retried one folder at a time so one bad model costs only itself.
    """
    if not root.is_dir():
        raise ValidationError(f"import root {root} is not a folder")
    report = ImportReport()
    batch: list[tuple[Path, RegistrationRequest]] = []

    def flush() -> None:
        try:
            report.registered.extend(register([request for _, request in batch]))
        except ShoalError:
            for folder, request in batch:
                try:
                    report.registered.extend(register([request]))
                except ShoalError as exc:
                    report.problems.append(ImportProblem(folder, str(exc)))
        batch.clear()

    for tenant, model, folder in _model_folders(root):
        try:
            batch.append((folder, request_for(tenant, model, folder, trust, verify)))
        except (ShoalError, ValueError) as exc:
            report.problems.append(ImportProblem(folder, str(exc)))
        if len(batch) >= batch_size:
            flush()
    if batch:
        flush()
    return report
