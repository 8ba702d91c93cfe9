"""The same pipeline on a local Ray (2 CPUs): same results, same records as the local executor."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from pathlib import Path

import pytest

from shoal.pipelines import Runner, RunStatus
from shoal.pipelines.environment import StepEnvironment
from shoal.pipelines.executors.ray import RayStepExecutor
from shoal.runtimes.base import LoadOptions
from shoal.runtimes.table import RuntimeTable
from shoal.storage.artifacts import FsspecArtifactStore
from shoal.storage.memory_runs import InMemoryRunStore
from tests.integration.pipelines.flows import effects, fan_out

ray = pytest.importorskip("ray")


def environment(root: Path) -> StepEnvironment:
    return StepEnvironment(
        FsspecArtifactStore(str(root / "artifacts")),
        RuntimeTable(),
        LoadOptions(),
        root / "scratch",
    )


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.mark.slow
def test_a_pipeline_runs_unchanged_on_ray(local_ray: None, tmp_path: Path) -> None:
    factory = functools.partial(environment, tmp_path)
    store = InMemoryRunStore()
    runner = Runner(store, factory(), {"ray": lambda: RayStepExecutor(factory)}, "ray")
    run = runner.run(fan_out, {"folder": str(tmp_path), "count": 40})
    assert run.status is RunStatus.SUCCEEDED, run.error
    assert run.executor == "ray"
    assert sorted(effects(str(tmp_path))) == [f"i{n:04d}" for n in range(40)]
    [total] = store.list_items(run.id, "total")
    assert total.output is not None
    assert total.output.inline == str(sum(range(40)) * 2).encode()
    assert "worked on i0003" in store.list_items(run.id, "work")[3].logs
