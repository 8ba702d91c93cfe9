"""``create_app``: one ASGI app serving the V2 inference API over a serving stack."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI

from shoal.access.service import AccessService
from shoal.api import errors, ops
from shoal.api.v2 import routes as v2
from shoal.api.v2.shortcut import InferShortcut
from shoal.registry.refs import ModelRef
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


async def _start(app: FastAPI, inference: InferenceService, hot_set: HotSet | None) -> None:
    """Warm up, declare the server ready, then restore the hot set.

    Ready once onnxruntime is imported (fast-path packages need nothing else), so a balancer's
    first requests meet cold loads of a few ms. scikit-learn and skops are imported by the first
    package without a fast path: importing them in the background would hold the interpreter
    for a second or two while the first requests arrive.
    """
    await inference.warm_up(("onnx",))
    app.state.ready = True
    if hot_set is not None:
        await hot_set.restore(inference)


def create_app(
    inference: InferenceService,
    config: ServerConfig = ServerConfig(),
    access: AccessService | None = None,
) -> FastAPI:
    """The app; its lifespan restores the last hot set in the background and saves it on exit.

    With ``access``, every model call needs an API key and inference counts against the usage
    plan; ``access=None`` serves without keys (``shoal serve --no-auth``, loopback only).
    """
    hot_set = HotSet(config.hot_set_file) if config.hot_set_file else None

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        for ref in config.pinned:  # before traffic: a pin that cannot load is a start-up error
            await inference.pin(ref)
        restore = hot_set if config.restore_hot_set else None
        starting = asyncio.create_task(_start(app, inference, restore))
        try:
            yield
        finally:
            app.state.ready = False
            if not starting.done():
                starting.cancel()
            if hot_set is not None:
                hot_set.save(inference.cache.hot_keys(config.hot_set_size))

    app = FastAPI(
        title="Shoal",
        version=__version__,
        description="Many small ML models behind one Open Inference Protocol (V2) endpoint.",
        lifespan=lifespan,
    )
    app.state.inference = inference
    app.state.access = access
    app.state.max_body_bytes = config.max_body_bytes
    app.state.ready = False
    errors.install(app)
    app.add_middleware(InferShortcut)
    app.include_router(v2.router)
    app.include_router(ops.router)
    return app
