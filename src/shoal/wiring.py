"""The composition root: builds every service from ``Settings``; nothing else reads settings."""

from __future__ import annotations

import getpass
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from sqlalchemy.engine import Engine

from shoal.access.keys import KeyService
from shoal.access.limiter import InMemoryRateLimiter
from shoal.access.plans import PlanService
from shoal.access.service import AccessService
from shoal.access.store import RateLimiter
from shoal.errors import ValidationError
from shoal.registry.loader import ModelLoader
from shoal.registry.packager import Packager
from shoal.registry.service import RegistryService
from shoal.registry.store import ArtifactStore, RegistryStore
from shoal.runtimes.base import LoadedModel, LoadOptions
from shoal.runtimes.table import RuntimeTable
from shoal.serving.cache import ModelCache
from shoal.serving.service import InferenceService
from shoal.settings import Settings
from shoal.storage.artifacts import FsspecArtifactStore
from shoal.storage.engine import create_engine
from shoal.storage.migrate import upgrade
from shoal.storage.sql_access import SqlKeyStore, SqlPlanStore
from shoal.storage.sql_registry import SqlRegistryStore


@dataclass(frozen=True, slots=True)
class Services:
    """Everything the edges (CLI, client, server) call."""

    registry: RegistryService
    loader: ModelLoader
    store: RegistryStore
    artifacts: ArtifactStore
    runtimes: RuntimeTable
    engine: Engine
    actor: str
    """Who acts by default, as recorded in the audit log."""
    access: AccessService

    def close(self) -> None:
        self.engine.dispose()


def artifact_options(settings: Settings) -> Mapping[str, object]:
    """fsspec storage options for the artifact URL (S3 endpoint and credentials)."""
    options: dict[str, object] = {}
    if settings.artifact_endpoint_url:
        options["client_kwargs"] = {"endpoint_url": settings.artifact_endpoint_url}
    if settings.artifact_key:
        options["key"] = settings.artifact_key
    if settings.artifact_secret is not None:
        options["secret"] = settings.artifact_secret.get_secret_value()
    return options


def build_services(settings: Settings) -> Services:
    """Open (and migrate) the metadata store and the artifact store named by ``settings``."""
    settings.home.mkdir(parents=True, exist_ok=True)
    engine = create_engine(settings.resolved_metadata_url)
    upgrade(engine)
    store = SqlRegistryStore(engine)
    artifacts = FsspecArtifactStore(
        settings.resolved_artifact_url,
        staging_dir=settings.home / "staging",
        storage_options=artifact_options(settings),
    )
    runtimes = RuntimeTable()
    options = LoadOptions(
        trusted_types=tuple(settings.trusted_types), allow_pickle=settings.allow_pickle
    )
    registry = RegistryService(store, Packager(artifacts, runtimes, options))
    loader = ModelLoader(artifacts, runtimes, settings.cache_dir, options)
    access = build_access(settings, engine, store)
    return Services(
        registry, loader, store, artifacts, runtimes, engine, default_actor(settings), access
    )


def build_access(settings: Settings, engine: Engine, tenants: RegistryStore) -> AccessService:
    """API keys and usage plans on the metadata store; limits in Redis when it is configured."""
    keys = SqlKeyStore(engine)
    limiter: RateLimiter
    if settings.redis_url:
        try:
            from shoal.storage.redis_limiter import RedisRateLimiter  # an optional extra
        except ImportError as exc:
            raise ValidationError(
                "SHOAL_REDIS_URL needs the redis package: pip install 'shoal[redis]'"
            ) from exc
        limiter = RedisRateLimiter.from_url(settings.redis_url)
    else:
        limiter = InMemoryRateLimiter()
    ttl = settings.key_cache_ttl_s
    return AccessService(
        KeyService(keys, tenants, ttl_s=ttl, negative_ttl_s=ttl),
        PlanService(SqlPlanStore(engine), limiter, tenants, keys, ttl_s=ttl),
    )


def build_inference(settings: Settings, services: Services) -> InferenceService:
    """The serving stack: a memory-budgeted cache over the registry, predictions on threads."""
    options = LoadOptions(
        trusted_types=tuple(settings.trusted_types),
        allow_pickle=settings.allow_pickle,
        prefer_fast=True,
    )
    loader = ModelLoader(services.artifacts, services.runtimes, settings.cache_dir, options)
    executor = ThreadPoolExecutor(settings.inference_threads, thread_name_prefix="shoal-predict")
    cache: ModelCache[LoadedModel] = ModelCache(
        int(settings.memory_budget),
        max_parallel_loads=settings.max_parallel_loads,
        executor=ThreadPoolExecutor(settings.max_parallel_loads, thread_name_prefix="shoal-load"),
    )
    return InferenceService(
        services.registry, loader, cache, executor, resolve_ttl_s=settings.resolve_ttl_s
    )


def default_actor(settings: Settings) -> str:
    """The configured actor, else the OS user name."""
    if settings.actor:
        return settings.actor
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry inside some containers
        return "unknown"
