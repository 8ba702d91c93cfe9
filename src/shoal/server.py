"""``create_app``: one ASGI app serving the V2 inference API over a serving stack."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI

from shoal.access.service import AccessService
from shoal.api import errors, management, ops
from shoal.api.capture import router as capture_router
from shoal.api.metrics import router as metrics_router
from shoal.api.telemetry import RequestTelemetry
from shoal.api.v2 import routes as v2
from shoal.api.v2.shortcut import InferShortcut
from shoal.observability.capture import DataCapture
from shoal.observability.capture_config import CaptureConfigService
from shoal.observability.telemetry import Telemetry
from shoal.registry.refs import ModelRef
from shoal.runtimes.native_memory import release_free_heap
from shoal.serving.hot_set import HotSet
from shoal.serving.service import InferenceService
from shoal.version import __version__

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """What the app needs beyond the inference service."""

    max_body_bytes: int = 16 * 1024 * 1024
    hot_set_file: Path | None = None
    hot_set_size: int = 1000
    restore_hot_set: bool = True
    pinned: tuple[ModelRef, ...] = ()
    """Models loaded at start and never evicted (``shoal serve --pin``)."""
    freeze_gc: bool = False
    """Once ready, and again once the hot set is restored, move every object the process holds
    out of the cycle collector's sight (``gc.freeze``): what start-up made (~200,000 objects:
    imports, the app) lives as long as the process, and full collections walking it paused
    every request in flight for 60-160 ms on the serving bench. For a process that is the
    server (``shoal serve``), not an app embedded in another program."""
    max_upload_bytes: int = 256 * 1024 * 1024
    """Largest registration body of the management API (a base64 model file; 413 above)."""


TRIM_EVERY_S = 2.0
"""How often the server checks whether models were evicted since the last heap trim."""


async def _trim_after_evictions(inference: InferenceService) -> None:
    """Return freed model memory to the OS after evictions (see ``release_free_heap``), at most
    every ``TRIM_EVERY_S`` seconds, on a thread: it takes a few ms of C for a GiB heap."""
    trimmed_at = inference.stats().evictions
    while True:
        await asyncio.sleep(TRIM_EVERY_S)
        evictions = inference.stats().evictions
        if evictions != trimmed_at:
            trimmed_at = evictions
            await asyncio.to_thread(release_free_heap)


async def _start(
    app: FastAPI, inference: InferenceService, hot_set: HotSet | None, freeze_gc: bool
) -> None:
    """Warm up, declare the server ready, then learn every route and restore the hot set.

    Ready once onnxruntime is imported (fast-path packages need nothing else), so a balancer's
    first requests meet cold loads of a few ms. scikit-learn and skops are imported by the first
    package without a fast path: importing them in the background would hold the interpreter
    for a second or two while the first requests arrive.
    """
    await inference.warm_up(("onnx",))
    if freeze_gc:
        gc.freeze()
    app.state.ready = True
    try:  # routes first: the hot set's restore then finds them in memory too
        learned = await inference.preload_routes()
        logger.info("learned the routes of %d models", learned)
    except Exception:  # each first request resolves its own route instead
        logger.warning("reading every model's route at start failed", exc_info=True)
    if hot_set is not None:
        await hot_set.restore(inference)
    if freeze_gc:
        gc.freeze()  # the hot set's models and the routes, likely to stay


def create_app(
    inference: InferenceService,
    config: ServerConfig = ServerConfig(),
    access: AccessService | None = None,
    manage: management.Management | None = None,
    capture: DataCapture | None = None,
    capture_config: CaptureConfigService | None = None,
    telemetry: Telemetry | None = None,
) -> FastAPI:
    """The app; its lifespan restores the last hot set in the background and saves it on exit.

    With ``access``, every model call needs an API key and inference counts against the usage
    plan; ``access=None`` serves without keys (``shoal serve --no-auth``, loopback only).
    With ``manage``, the management API (registry, keys, plans, usage) is served under
    ``/api/v1`` behind the same keys.
    With ``capture``, sampled inferences are captured (its writer runs while the app does);
    ``capture_config`` serves the capture settings under ``/api/v1/capture``.
    ``telemetry`` (``wiring.build_telemetry``) adds traces, access logs and store probes to the
    metrics every app has (``/metrics``).
    """
    hot_set = HotSet(config.hot_set_file) if config.hot_set_file else None
    telemetry = telemetry or Telemetry.for_server(inference.stats)
    inference.observe_loads(telemetry.metrics.serving.observe_load)
    if capture is not None:
        telemetry.metrics.add_source(capture.families)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        for ref in config.pinned:  # before traffic: a pin that cannot load is a start-up error
            await inference.pin(ref)
        restore = hot_set if config.restore_hot_set else None
        starting = asyncio.create_task(_start(app, inference, restore, config.freeze_gc))
        trimming = asyncio.create_task(_trim_after_evictions(inference))
        telemetry.start()
        if capture is not None:
            await asyncio.to_thread(capture.start)
        try:
            yield
        finally:
            app.state.ready = False
            trimming.cancel()
            if not starting.done():
                starting.cancel()
            if capture is not None:  # writes what is still queued
                await asyncio.to_thread(capture.stop)
            if hot_set is not None:
                hot_set.save(inference.cache.hot_keys(config.hot_set_size))
            await telemetry.close()

    app = FastAPI(
        title="Shoal",
        version=__version__,
        description="Many small ML models behind one Open Inference Protocol (V2) endpoint.",
        lifespan=lifespan,
        # Shoal records its own telemetry (observability/); FastAPI's native OpenTelemetry
        # would look up the global providers on every request and, were they set, double it.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.inference = inference
    app.state.access = access
    app.state.max_body_bytes = config.max_body_bytes
    app.state.ready = False
    app.state.capture = capture
    app.state.capture_config = capture_config
    app.state.telemetry = telemetry
    errors.install(app)
    app.add_middleware(InferShortcut)
    app.add_middleware(RequestTelemetry)  # outermost: it measures the shortcut too
    app.include_router(v2.router)
    app.include_router(ops.router)
    app.include_router(capture_router)
    app.include_router(metrics_router)
    if manage is not None:  # the management API (/api/v1), with the same keys as inference
        management.install(app, manage, config.max_upload_bytes)
    return app
