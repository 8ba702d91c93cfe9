"""Pipelines: typed steps composed into a checked graph, run locally or on Ray.

Retries with backoff, resume after a failure or a crash, fan-out over thousands of items,
data snapshots and exact re-runs, tracking of metrics and logs, models registered with lineage.
"""

from __future__ import annotations

from shoal.pipelines.context import (
    StepContext,
    current,
    log_metric,
    register_model,
    snapshot_files,
    snapshot_frame,
)
from shoal.pipelines.dsl import Step, each, pipeline, step
from shoal.pipelines.graph import Pipeline
from shoal.pipelines.listeners import RunListener
from shoal.pipelines.loader import load_pipeline
from shoal.pipelines.records import (
    ItemRecord,
    ItemStatus,
    RunQuery,
    RunRecord,
    RunStatus,
    SnapshotRecord,
    StepRecord,
    StepStatus,
)
from shoal.pipelines.retry import Retry
from shoal.pipelines.runner import Runner

__all__ = [
    "ItemRecord",
    "ItemStatus",
    "Pipeline",
    "Retry",
    "RunListener",
    "RunQuery",
    "RunRecord",
    "RunStatus",
    "Runner",
    "SnapshotRecord",
    "Step",
    "StepContext",
    "StepRecord",
    "StepStatus",
    "current",
    "each",
    "load_pipeline",
    "log_metric",
    "pipeline",
    "register_model",
    "snapshot_files",
    "snapshot_frame",
    "step",
]
