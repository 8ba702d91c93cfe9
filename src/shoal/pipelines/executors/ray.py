"""``RayStepExecutor``: the same batches as the local executor, as Ray tasks on a cluster.

Ray is imported only when this executor starts (``pip install 'shoal[ray]'``). Each Ray worker
builds its ``StepEnvironment`` once from the picklable factory, so the metadata and artifact
stores must be reachable from every node (PostgreSQL and S3 on a real cluster; SQLite and a
local folder are fine on one machine). The pipeline travels by value (cloudpickle), so its
module need not be installed on the workers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from typing import TYPE_CHECKING

from shoal.errors import ValidationError
from shoal.pipelines import capture
from shoal.pipelines.environment import EnvironmentFactory
from shoal.pipelines.executors.base import WorkerLostError
from shoal.pipelines.graph import Pipeline
from shoal.pipelines.worker import ItemOutcome, ItemTask, register_pipeline, run_batch

if TYPE_CHECKING:
    from types import ModuleType


_WORKER: dict[str, bool] = {}
"""Per Ray worker process: whether its output is routed to the per-item capture yet."""


def _ray_batch(
    tasks: Sequence[ItemTask], factory: EnvironmentFactory, key: str, pipeline: Pipeline
) -> list[ItemOutcome]:
    if not _WORKER.get("capturing"):
        capture.install()  # a Ray worker is ours while it runs the batch; it stays installed
        _WORKER["capturing"] = True
    register_pipeline(key, pipeline)
    return run_batch(tasks, factory)


def _import_ray() -> ModuleType:
    try:
        import ray
    except ImportError as exc:
        raise ValidationError("the ray executor needs Ray: pip install 'shoal[ray]'") from exc
    return ray


class RayStepExecutor:
    """Runs batches as Ray tasks (one CPU each) on the cluster at ``address`` (or a local one)."""

    name = "ray"

    def __init__(
        self,
        factory: EnvironmentFactory,
        address: str | None = None,
        init_options: Mapping[str, object] | None = None,
    ) -> None:
        self._factory = factory
        self._address = address
        self._init_options = dict(init_options or {})
        self._slots = 1
        self._remote: object = None
        self._pipeline_ref: object = None
        self._key = ""
        self._started_ray = False

    @property
    def slots(self) -> int:
        return self._slots

    def start(self, key: str, pipeline: Pipeline) -> None:
        ray = _import_ray()
        if not ray.is_initialized():
            ray.init(address=self._address, **self._init_options)
            self._started_ray = True
        self._slots = max(1, int(ray.cluster_resources().get("CPU", 1)))
        self._remote = ray.remote(num_cpus=1, max_retries=0)(_ray_batch)
        self._pipeline_ref = ray.put(pipeline)
        self._key = key

    def submit(self, tasks: Sequence[ItemTask]) -> Future[list[ItemOutcome]]:
        ray = _import_ray()
        ref = self._remote.remote(  # type: ignore[attr-defined]
            list(tasks), self._factory, self._key, self._pipeline_ref
        )
        result: Future[list[ItemOutcome]] = Future()

        def done(source: Future[list[ItemOutcome]]) -> None:
            error = source.exception()
            if isinstance(error, ray.exceptions.WorkerCrashedError | ray.exceptions.NodeDiedError):
                result.set_exception(WorkerLostError(f"a Ray worker died: {error}"))
            elif error is not None:
                result.set_exception(error)
            else:
                result.set_result(source.result())

        ref.future().add_done_callback(done)
        return result

    def shutdown(self) -> None:
        self._pipeline_ref = None
        if self._started_ray:
            # A Ray we started for this run is ours to stop; one the caller started is not.
            _import_ray().shutdown()
            self._started_ray = False
