"""The stores and services every command needs: metadata, artifacts, registry, access."""

from __future__ import annotations

import getpass
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy.engine import Engine

from shoal.access.changes import AccessChangeFeed
from shoal.access.keys import KeyService
from shoal.access.limiter import in_memory_limiter
from shoal.access.plans import PlanService
from shoal.access.service import AccessService
from shoal.access.store import RateLimiter
from shoal.errors import ValidationError
from shoal.observability.capture_config import CaptureConfigService
from shoal.registry.loader import ModelLoader
from shoal.registry.packager import Packager
from shoal.registry.service import RegistryService
from shoal.registry.store import ArtifactStore, RegistryStore
from shoal.runtimes.base import LoadOptions
from shoal.runtimes.table import RuntimeTable
from shoal.settings import Settings
from shoal.storage.artifacts import FsspecArtifactStore
from shoal.storage.engine import create_engine
from shoal.storage.migrate import upgrade
from shoal.storage.sql_access import SqlAccessAuditLog, SqlKeyStore, SqlPlanStore
from shoal.storage.sql_capture import SqlCaptureConfigStore
from shoal.storage.sql_registry import SqlRegistryStore

if TYPE_CHECKING:
    pass


ACCESS_ENTRY_TTL_S = 300.0
"""How long a cached key or plan lives when the change feed keeps it fresh (a backstop)."""


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
    capture: CaptureConfigService
    """Data-capture settings per model and tenant."""

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
    capture = CaptureConfigService(SqlCaptureConfigStore(engine), store)
    return Services(
        registry,
        loader,
        store,
        artifacts,
        runtimes,
        engine,
        default_actor(settings),
        access,
        capture=capture,
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
        limiter = in_memory_limiter()
    ttl = settings.key_cache_ttl_s
    # With a change feed, cached keys and plans live long and the feed drops what changed
    # (one query per interval for the whole server); the TTL is only a backstop.
    entry_ttl = max(ttl, ACCESS_ENTRY_TTL_S) if ttl > 0 else 0.0
    audit = SqlAccessAuditLog(engine)
    key_service = KeyService(keys, tenants, ttl_s=entry_ttl, negative_ttl_s=ttl)
    plans = PlanService(SqlPlanStore(engine), limiter, tenants, keys, ttl_s=entry_ttl)
    changes = AccessChangeFeed(audit, key_service, plans, ttl) if ttl > 0 else None
    return AccessService(key_service, plans, audit, changes)


def default_actor(settings: Settings) -> str:
    """The configured actor, else the OS user name."""
    if settings.actor:
        return settings.actor
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry inside some containers
        return "unknown"


# -- pipelines: imported on first use, so commands that run no pipeline never load them ------
