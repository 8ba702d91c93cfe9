"""The ``StepExecutor`` role: runs batches of item tasks somewhere and returns their outcomes."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Future
from typing import Protocol

from shoal.pipelines.graph import Pipeline
from shoal.pipelines.worker import ItemOutcome, ItemTask


class WorkerLostError(Exception):
    """A worker died (killed, out of memory) while it ran a batch; its items may be retried."""


class StepExecutor(Protocol):
    """Where items run. The runner keeps at most ``2 * slots`` batches in flight (throttling)."""

    name: str

    @property
    def slots(self) -> int:
        """How many batches can run at the same time (worker processes, Ray CPUs)."""
        ...

    def start(self, key: str, pipeline: Pipeline) -> None:
        """Get ready to run items of ``pipeline`` (known to workers as ``key``)."""
        ...

    def submit(self, tasks: Sequence[ItemTask]) -> Future[list[ItemOutcome]]:
        """Run ``tasks`` in order on one worker; the future fails with ``WorkerLostError``
        if the worker died."""
        ...

    def shutdown(self) -> None:
        """Stop the workers; batches still queued are dropped."""
        ...
