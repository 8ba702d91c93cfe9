"""Shoal: run many small ML models — registry, multi-model serving, pipelines and monitoring.

The public Python API. ``shoal.Client`` is imported lazily so ``import shoal`` stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shoal.errors import (
    ConflictError,
    CorruptArtifactError,
    NotFoundError,
    ShoalError,
    UntrustedArtifactError,
    ValidationError,
)
from shoal.registry.refs import ModelRef

if TYPE_CHECKING:
    from shoal.client import Client
    from shoal.pipelines import (
        Retry,
        each,
        log_metric,
        pipeline,
        register_model,
        snapshot_files,
        snapshot_frame,
        step,
    )
    from shoal.settings import Settings

from shoal.version import __version__

__all__ = [
    "Client",
    "ConflictError",
    "CorruptArtifactError",
    "ModelRef",
    "NotFoundError",
    "Retry",
    "Settings",
    "ShoalError",
    "UntrustedArtifactError",
    "ValidationError",
    "__version__",
    "each",
    "log_metric",
    "pipeline",
    "register_model",
    "snapshot_files",
    "snapshot_frame",
    "step",
]

_PIPELINE_DSL = frozenset(
    {
        "Retry",
        "each",
        "log_metric",
        "pipeline",
        "register_model",
        "snapshot_files",
        "snapshot_frame",
        "step",
    }
)


def __getattr__(name: str) -> object:
    if name == "Client":
        from shoal.client import Client

        return Client
    if name == "Settings":
        from shoal.settings import Settings

        return Settings
    if name in _PIPELINE_DSL:  # the pipeline DSL: shoal.step, shoal.log_metric, ...
        from shoal import pipelines

        return getattr(pipelines, name)
    raise AttributeError(f"module 'shoal' has no attribute {name!r}")
