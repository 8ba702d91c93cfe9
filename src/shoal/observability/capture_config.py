"""Capture settings per model (and per tenant, as a default): records, the store role, the service.

A model captures the percentage set for it, else its tenant's default, else nothing. Settings
name existing tenants and models only; the store keeps them in the metadata database, and every
server reads them all at once (``rules()``) on its capture writer thread, every couple of
seconds, so a change reaches every server within that time and requests never wait for it.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from shoal.errors import NotFoundError, ValidationError
from shoal.observability.capture import CaptureRules, TenantRules

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CaptureConfig:
    """The sampling percentage of one model, or (``model=None``) a tenant's default."""

    tenant: str
    model: str | None
    percent: float
    updated_at: datetime | None = None
    updated_by: str | None = None

    @property
    def subject(self) -> str:
        """``tenant/model``, or ``tenant`` for a tenant's default."""
        return self.tenant if self.model is None else f"{self.tenant}/{self.model}"


@dataclass(frozen=True, slots=True)
class EffectiveCapture:
    """What a model captures now and which setting says so (None: nothing is set, 0 %)."""

    tenant: str
    model: str
    percent: float
    source: CaptureConfig | None


class CaptureConfigStore(Protocol):
    """Capture settings in the metadata store. Every method is one atomic transaction."""

    def set_config(self, config: CaptureConfig, actor: str, at: datetime) -> CaptureConfig:
        """Create or replace the setting; ``NotFoundError`` for an unknown tenant."""
        ...

    def find_config(self, tenant: str, model: str | None) -> CaptureConfig | None: ...

    def remove_config(self, tenant: str, model: str | None) -> CaptureConfig:
        """Delete the setting and return it; ``NotFoundError`` when there is none."""
        ...

    def list_configs(self, tenant: str | None) -> list[CaptureConfig]:
        """Settings by tenant, then model, each tenant's default first; one tenant's or all."""
        ...


class ModelDirectory(Protocol):
    """Where tenants and models are looked up (the registry's store is one)."""

    def find_tenant(self, name: str) -> object | None: ...

    def find_model(self, tenant: str, model: str) -> object | None: ...


def config_missing(tenant: str, model: str | None) -> NotFoundError:
    subject = tenant if model is None else f"{tenant}/{model}"
    return NotFoundError(f"no capture setting for {subject!r}")


def check_percent(percent: float) -> float:
    """``percent`` as a float if it is a number from 0 to 100, else ``ValidationError``."""
    if isinstance(percent, bool) or not isinstance(percent, int | float):
        raise ValidationError(f"capture percent must be a number, got {percent!r}")
    if not math.isfinite(percent) or not 0.0 <= percent <= 100.0:
        raise ValidationError(f"capture percent must be between 0 and 100, got {percent!r}")
    return float(percent)


def rules_of(configs: list[CaptureConfig]) -> CaptureRules:
    """The sampler's snapshot of a list of settings."""
    defaults: dict[str, float] = {}
    models: dict[str, dict[str, float]] = {}
    for config in configs:
        if config.model is None:
            defaults[config.tenant] = config.percent
        else:
            models.setdefault(config.tenant, {})[config.model] = config.percent
    return {
        tenant: TenantRules(defaults.get(tenant, 0.0), models.get(tenant, {}))
        for tenant in defaults.keys() | models.keys()
    }


def _utc_now() -> datetime:
    return datetime.now(UTC)


class CaptureConfigService:
    """Sets, shows and lists capture settings; ``rules()`` is what the servers sample by."""

    def __init__(self, store: CaptureConfigStore, directory: ModelDirectory) -> None:
        self._store = store
        self._directory = directory

    def set_config(
        self, tenant: str, model: str | None, percent: float, actor: str
    ) -> CaptureConfig:
        """Capture ``percent`` % of the model's inferences (``model=None``: tenant default)."""
        config = CaptureConfig(tenant, model, check_percent(percent))
        self._check_exists(tenant, model)
        saved = self._store.set_config(config, actor, _utc_now())
        logger.info("capture of %s set to %g%% by %s", config.subject, config.percent, actor)
        return saved

    def remove_config(self, tenant: str, model: str | None, actor: str) -> CaptureConfig:
        removed = self._store.remove_config(tenant, model)
        logger.info("capture setting of %s removed by %s", removed.subject, actor)
        return removed

    def get_config(self, tenant: str, model: str) -> EffectiveCapture:
        """The percentage ``tenant/model`` captures now, and the setting it comes from."""
        self._check_exists(tenant, model)
        source = self._store.find_config(tenant, model) or self._store.find_config(tenant, None)
        return EffectiveCapture(tenant, model, source.percent if source else 0.0, source)

    def list_configs(self, tenant: str | None = None) -> list[CaptureConfig]:
        if tenant is not None:
            self._check_exists(tenant, None)
        return self._store.list_configs(tenant)

    def rules(self) -> CaptureRules:
        """Every setting as the sampler's snapshot (one query)."""
        return rules_of(self._store.list_configs(None))

    def _check_exists(self, tenant: str, model: str | None) -> None:
        if self._directory.find_tenant(tenant) is None:
            raise NotFoundError(f"tenant {tenant!r} does not exist")
        if model is not None and self._directory.find_model(tenant, model) is None:
            raise NotFoundError(f"model {tenant}/{model} does not exist")
