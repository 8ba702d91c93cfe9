"""Where items run: ``LocalExecutor`` (a worker pool on this machine) and ``RayStepExecutor``."""

from __future__ import annotations

from shoal.pipelines.executors.base import StepExecutor, WorkerLostError
from shoal.pipelines.executors.local import LocalExecutor

__all__ = ["LocalExecutor", "StepExecutor", "WorkerLostError"]
