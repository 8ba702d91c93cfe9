"""A runner over an in-memory run store, a temp artifact folder and a thread pool."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from shoal.pipelines import RunListener, Runner
from shoal.pipelines.environment import StepEnvironment
from shoal.pipelines.executors.local import LocalExecutor, PoolKind
from shoal.runtimes.base import LoadOptions
from shoal.runtimes.table import RuntimeTable
from shoal.storage.artifacts import FsspecArtifactStore
from shoal.storage.memory_runs import InMemoryRunStore


@pytest.fixture
def env(tmp_path: Path) -> StepEnvironment:
    return StepEnvironment(
        FsspecArtifactStore(str(tmp_path / "artifacts")),
        RuntimeTable(),
        LoadOptions(),
        tmp_path / "scratch",
    )


@pytest.fixture
def store() -> InMemoryRunStore:
    return InMemoryRunStore()


MakeRunner = Callable[..., Runner]


@pytest.fixture
def make_runner(env: StepEnvironment, store: InMemoryRunStore) -> MakeRunner:
    def make(
        pool: PoolKind = "thread", workers: int = 2, listeners: tuple[RunListener, ...] = ()
    ) -> Runner:
        def executor() -> LocalExecutor:
            return LocalExecutor(lambda: env, workers, pool, env)

        return Runner(store, env, {"local": executor}, listeners=listeners, flush_interval_s=0.05)

    return make
