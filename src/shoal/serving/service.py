"""The inference service: resolve a reference, lease the model from the cache, validate, predict."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from shoal.errors import NotFoundError, PredictError, ShoalError, ValidationError
from shoal.observability import tracing
from shoal.registry.loader import ModelLoader
from shoal.registry.records import ModelVersion
from shoal.registry.refs import ModelRef
from shoal.registry.service import RegistryService
from shoal.runtimes.base import LoadedModel, Tensors
from shoal.serving.cache import CacheStats, Lease, ModelCache
from shoal.serving.costs import PredictCosts
from shoal.serving.routing import RouteInfo, Router
from shoal.serving.validation import check_inputs, smoke_inputs

logger = logging.getLogger(__name__)

SIZE_HINT_FACTOR = 4
"""Before a model's first load its footprint is unknown: reserve this many times its package."""


@dataclass(frozen=True, slots=True)
class Prediction:
    """What one inference returned, and how it was served."""

    version: ModelVersion
    outputs: dict[str, NDArray[np.generic]]
    cache_hit: bool
    wait_seconds: float
    predict_seconds: float


@dataclass(frozen=True, slots=True)
class RepositoryEntry:
    """A model of the repository index: what serves it and whether it is in memory."""

    name: str
    version: int
    state: str
    reason: str = ""


def cache_key(version: ModelVersion) -> str:
    return version.ref


def _timed(
    model: LoadedModel, inputs: dict[str, NDArray[np.generic]]
) -> tuple[dict[str, NDArray[np.generic]], float, float]:
    """Outputs, wall seconds, and CPU seconds of this thread (the model's own cost: under load,
    wall time also counts waiting for the interpreter lock, which is not the model's)."""
    began, cpu = time.perf_counter(), time.thread_time()
    outputs = model.predict(inputs)
    return outputs, time.perf_counter() - began, time.thread_time() - cpu


class InferenceService:
    """Serves every registered model of every tenant through one memory-budgeted cache."""

    def __init__(
        self,
        registry: RegistryService,
        loader: ModelLoader,
        cache: ModelCache[LoadedModel],
        executor: Executor,
        clock: Callable[[], float] = time.monotonic,
        resolve_ttl_s: float = 2.0,
    ):
        self._registry = registry
        self._loader = loader
        self._cache = cache
        self._executor = executor
        self._router = Router(
            registry.get_version, self._warm, registry.changes_since, clock, resolve_ttl_s
        )
        self._costs = PredictCosts()
        self._on_load: Callable[[float], None] | None = None

    @property
    def cache(self) -> ModelCache[LoadedModel]:
        return self._cache

    def resolve(self, ref: ModelRef) -> ModelVersion:
        """The version that serves ``ref`` now."""
        return self._router.route(ref)

    def _load_fn(self, version: ModelVersion) -> Callable[[], LoadedModel]:
        return lambda: self._load(version)

    def _load(self, version: ModelVersion) -> LoadedModel:
        began = time.perf_counter()
        model = self._loader.load(version).model
        if self._on_load is not None:
            self._on_load(time.perf_counter() - began)
        return model

    def observe_loads(self, observer: Callable[[float], None]) -> None:
        """Call ``observer`` with the seconds each successful model load took (on the loading
        thread)."""
        self._on_load = observer

    def _size_hint(self, version: ModelVersion) -> int:
        return max(version.artifact.size * SIZE_HINT_FACTOR, 64 * 1024)

    async def infer(
        self, ref: ModelRef, inputs: Tensors, requested: Sequence[str] = ()
    ) -> Prediction:
        """Predict with the version ``ref`` resolves to; only this request fails if it raises."""
        version = self.resolve(ref)
        tracing.note_model(version.tenant, version.model, version.version)
        checked = check_inputs(version.signature, inputs)
        lease = self._cache.lease_resident(cache_key(version))
        if lease is None:
            lease = await self._lease_for_load(version)
        tracing.note_lease(lease.hit, lease.wait_seconds, lease.load_seconds)
        try:
            outputs, predict_seconds = await self._predict(lease.key, lease.model, checked)
            tracing.note_predict(predict_seconds)
        except ShoalError:
            raise
        except Exception as exc:
            logger.warning("%s raised while predicting: %r", version.ref, exc)
            raise PredictError(f"model {version.ref} failed to predict: {exc}") from exc
        finally:
            lease.release()
        if requested:
            missing = [name for name in requested if name not in outputs]
            if missing:
                raise ValidationError(
                    f"unknown outputs {missing}; {version.ref} returns {sorted(outputs)}"
                )
            outputs = {name: outputs[name] for name in requested}
        return Prediction(version, outputs, lease.hit, lease.wait_seconds, predict_seconds)

    async def _predict(
        self, key: str, model: LoadedModel, inputs: dict[str, NDArray[np.generic]]
    ) -> tuple[dict[str, NDArray[np.generic]], float]:
        """Predict inline when this model is known to be quick for this many rows, else on the
        executor; either way, learn the model's cost per row."""
        rows = max((len(a) for a in inputs.values() if a.ndim), default=1) or 1
        inline = self._costs.inline(key, rows, getattr(model, "row_seconds_hint", None))
        if inline:
            outputs, elapsed, cpu = _timed(model, inputs)
        else:
            loop = asyncio.get_running_loop()
            outputs, elapsed, cpu = await loop.run_in_executor(
                self._executor, _timed, model, inputs
            )
        self._costs.learn(key, cpu / rows, inline)
        return outputs, elapsed

    async def _lease_for_load(self, version: ModelVersion) -> Lease[LoadedModel]:
        return await self._cache.lease(
            cache_key(version),
            self._load_fn(version),
            self._size_hint(version),
            inline=self._loader.loads_quickly(version),
        )

    async def _warm(self, version: ModelVersion) -> None:
        """Load ``version`` and run one prediction on zeros shaped by its signature."""
        lease = await self._lease_for_load(version)
        try:
            sample = smoke_inputs(version.signature)
            if sample is not None:
                loop = asyncio.get_running_loop()
                await loop.run_in_executor(self._executor, lease.model.predict, sample)
        finally:
            lease.release()

    async def preload_routes(self) -> int:
        """Learn which version every registered model serves, a page of models per query
        round (see ``Router.preload``); returns how many routes were added."""
        return await self._router.preload(self._registry.default_versions)

    async def warm_up(self, formats: tuple[str, ...] = ("onnx", "sklearn")) -> None:
        """Import model frameworks off the event loop, before the first request needs them."""
        try:
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(self._executor, self._loader.warm_up, formats)
        except Exception:  # a missing framework shows up again, clearly, at its first load
            logger.warning("warming up the model runtimes failed", exc_info=True)

    async def load(self, ref: ModelRef) -> ModelVersion:
        """Load (and smoke-test) the version ``ref`` resolves to (repository ``load``)."""
        version = self.resolve(ref)
        await self._warm(version)
        return version

    async def pin(self, ref: ModelRef) -> ModelVersion:
        """Load the version ``ref`` resolves to and keep it resident until unpinned."""
        version = self.resolve(ref)
        await self._cache.preload(
            cache_key(version), self._load_fn(version), self._size_hint(version), pin=True
        )
        return version

    def unload(self, ref: ModelRef) -> ModelVersion:
        """Evict the version ``ref`` resolves to (repository ``unload``)."""
        version = self.resolve(ref)
        if not self._cache.evict(cache_key(version)):
            raise NotFoundError(f"model {version.ref} is not loaded")
        return version

    def is_ready(self, ref: ModelRef) -> bool:
        """Whether the version ``ref`` resolves to is resident (per-model readiness)."""
        return self._cache.is_resident(cache_key(self.resolve(ref)))

    def index(self) -> list[RepositoryEntry]:
        """Every model in memory or with a route, with its state."""
        resident = {e.key: e.state for e in self._cache.entries()}
        out = [
            RepositoryEntry(key, int(key.rsplit(":", 1)[1]), state.upper())
            for key, state in sorted(resident.items())
        ]
        for route in self._router.routes():
            for number, reason in route.failures.items():
                out.append(RepositoryEntry(route.ref, number, "UNAVAILABLE", reason))
        return out

    def routes(self) -> list[RouteInfo]:
        return self._router.routes()

    def stats(self) -> CacheStats:
        return self._cache.stats()

    async def settle(self) -> None:
        await self._router.settle()
