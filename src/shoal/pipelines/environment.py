"""What a step needs around it while it runs: stores, runtimes, the registry, a scratch folder.

Built by the composition root (``wiring``); a process or Ray worker builds its own from a
picklable ``EnvironmentFactory`` because stores and database connections cannot cross a fork or
the network.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from shoal.registry.service import RegistryService
from shoal.registry.store import ArtifactStore
from shoal.runtimes.base import LoadOptions
from shoal.runtimes.table import RuntimeTable


@dataclass(frozen=True, slots=True)
class StepEnvironment:
    """The artifact store outputs and snapshots go to, and the registry steps register into."""

    artifacts: ArtifactStore
    runtimes: RuntimeTable
    load_options: LoadOptions
    scratch: Path
    """A local folder for unpacked model outputs and materialised snapshots (a cache by digest)."""
    registry: RegistryService | None = None
    actor: str = "pipeline"


EnvironmentFactory = Callable[[], StepEnvironment]
"""Builds a ``StepEnvironment`` in a worker process; must pickle (e.g. a ``functools.partial``)."""
