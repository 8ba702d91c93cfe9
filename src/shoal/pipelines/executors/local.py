"""``LocalExecutor``: a pool of long-lived workers on this machine, one per core by default.

Processes (the default) use every core for Python code; each is forked once per run, not per
item, and runs items in batches, so an item costs a function call plus its bookkeeping. Threads
(``pool="thread"``) suit steps that wait on I/O or release the GIL, and start instantly.
Workers inherit the pipeline when forked; where fork is not available they load it by its
reference.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
from collections.abc import Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Literal

from shoal.errors import ValidationError
from shoal.pipelines import capture
from shoal.pipelines.environment import EnvironmentFactory, StepEnvironment
from shoal.pipelines.executors.base import WorkerLostError
from shoal.pipelines.graph import Pipeline
from shoal.pipelines.worker import ItemOutcome, ItemTask, environment, register_pipeline, run_batch

PoolKind = Literal["process", "thread"]

_WORKER: dict[str, StepEnvironment] = {}
"""The environment of this pool process (set by its initializer)."""


def _init_process(factory: EnvironmentFactory, inherited: StepEnvironment | None) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the runner decides what Ctrl-C stops
    root = logging.getLogger()
    shown = root.getEffectiveLevel()
    if shown > logging.INFO:
        # Capture INFO records per item, while the handlers the runner had (inherited by the
        # fork) keep printing only what they printed before.
        for handler in root.handlers:
            handler.setLevel(max(handler.level, shown))
        root.setLevel(logging.INFO)
    capture.install()
    # A forked worker reuses the runner's environment (its database pool was reset at the
    # fork, see wiring); a spawned one builds its own.
    _WORKER["env"] = inherited if inherited is not None else environment(factory)


def _run_in_process(tasks: Sequence[ItemTask]) -> list[ItemOutcome]:
    return run_batch(tasks, _WORKER["env"])


class LocalExecutor:
    """Runs batches on ``workers`` processes (or threads); all cores when ``workers`` is None."""

    name = "local"

    def __init__(
        self,
        factory: EnvironmentFactory,
        workers: int | None = None,
        pool: PoolKind = "process",
        env: StepEnvironment | None = None,
    ) -> None:
        if workers is not None and workers < 1:
            raise ValidationError(f"the local executor needs at least 1 worker, got {workers}")
        if pool not in ("process", "thread"):
            raise ValidationError(f"pool must be 'process' or 'thread', got {pool!r}")
        self._factory = factory
        self._env = env
        self._workers = workers or os.cpu_count() or 1
        self._kind: PoolKind = pool
        self._pool: Executor | None = None
        self._captured = False

    @property
    def slots(self) -> int:
        return self._workers

    def start(self, key: str, pipeline: Pipeline) -> None:
        register_pipeline(key, pipeline)  # before forking, so workers inherit it
        if self._kind == "thread":
            capture.install()
            self._captured = True
            self._pool = ThreadPoolExecutor(self._workers, thread_name_prefix="shoal-step")
            return
        fork = "fork" in multiprocessing.get_all_start_methods()
        self._pool = ProcessPoolExecutor(
            self._workers,
            mp_context=multiprocessing.get_context("fork" if fork else "spawn"),
            initializer=_init_process,
            initargs=(self._factory, self._env if fork else None),
        )

    def submit(self, tasks: Sequence[ItemTask]) -> Future[list[ItemOutcome]]:
        if self._pool is None:
            raise RuntimeError("LocalExecutor.submit before start")
        if self._kind == "thread":
            env = self._env or environment(self._factory)
            return self._pool.submit(run_batch, list(tasks), env)
        try:
            future = self._pool.submit(_run_in_process, list(tasks))
        except BrokenProcessPool as exc:
            future = Future()
            future.set_exception(WorkerLostError(f"a worker process died: {exc}"))
            return future
        return _translated(future)

    def restart(self, key: str, pipeline: Pipeline) -> None:
        """A fresh pool after a worker died (the old one refuses work)."""
        self.shutdown()
        self.start(key, pipeline)

    def shutdown(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        if self._captured:
            capture.uninstall()
            self._captured = False


def _translated(future: Future[list[ItemOutcome]]) -> Future[list[ItemOutcome]]:
    """The same future, with a dead worker reported as ``WorkerLostError``."""
    result: Future[list[ItemOutcome]] = Future()

    def done(source: Future[list[ItemOutcome]]) -> None:
        if source.cancelled():
            result.cancel()
            return
        error = source.exception()
        if isinstance(error, BrokenProcessPool):
            result.set_exception(WorkerLostError(f"a worker process died: {error}"))
        elif error is not None:
            result.set_exception(error)
        else:
            result.set_result(source.result())

    future.add_done_callback(done)
    return result
