"""The ``RunListener`` role: told once when a run ends (notifiers, schedulers, dashboards)."""

from __future__ import annotations

from typing import Protocol

from shoal.pipelines.records import RunRecord


class RunListener(Protocol):
    """Called once per run end (succeeded or failed), after the final status is recorded.

    A listener that raises is logged and ignored: it never changes the run's outcome.
    """

    def run_finished(self, run: RunRecord) -> None: ...
