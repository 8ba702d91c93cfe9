"""``/api/v1/capture``: per-model and per-tenant data-capture settings, and the writer's counters.

Changing a setting needs an admin key; a tenant key may read its own tenant's settings (another
tenant's answer 404, as if they did not exist). Servers pick a change up within
``capture_config_ttl_s`` seconds.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from shoal.access.records import Principal
from shoal.api.auth import LOCAL, principal
from shoal.api.errors import ERROR_RESPONSES
from shoal.errors import NotFoundError
from shoal.observability.capture import DataCapture
from shoal.observability.capture_config import CaptureConfig, CaptureConfigService
from shoal.registry.names import check_name

router = APIRouter(prefix="/api/v1/capture", tags=["data capture"], responses=ERROR_RESPONSES)

Who = Annotated[Principal, Depends(principal)]
Percent = Annotated[float, Field(ge=0, le=100, allow_inf_nan=False)]


class CapturePercentIn(BaseModel):
    """The share of a model's inferences to capture, in percent (0 turns capture off)."""

    model_config = ConfigDict(extra="forbid")

    percent: Percent


class CaptureConfigOut(BaseModel):
    """A setting: one model's percentage, or (``model`` null) its tenant's default."""

    model_config = ConfigDict(from_attributes=True, protected_namespaces=())

    tenant: str
    model: str | None
    percent: float
    updated_at: datetime | None
    updated_by: str | None


class CaptureConfigsOut(BaseModel):
    items: list[CaptureConfigOut]


class EffectiveCaptureOut(BaseModel):
    """What a model captures now, and the setting that says so (null: none, 0 %)."""

    model_config = ConfigDict(from_attributes=True, protected_namespaces=())

    tenant: str
    model: str
    percent: float
    source: CaptureConfigOut | None


class CaptureStatsOut(BaseModel):
    """The capture writer's counters since the server started (zero when capture is off)."""

    running: bool
    enqueued: int = 0
    dropped: int = 0
    written: int = 0
    failed: int = 0
    queued: int = 0
    queued_bytes: int = 0
    files: int = 0


def settings_of(request: Request) -> CaptureConfigService:
    found: CaptureConfigService | None = request.app.state.capture_config
    if found is None:
        raise NotFoundError("data capture is not configured on this server")
    return found


Settings = Annotated[CaptureConfigService, Depends(settings_of)]


def _actor(who: Principal) -> str:
    return who.key_id if who is LOCAL else f"key:{who.key_id}"


def _check(tenant: str, model: str | None = None) -> None:
    """``InvalidNameError`` (a 400 naming the value) unless the names are valid."""
    check_name(tenant, "tenant name")
    if model is not None:
        check_name(model, "model name")


def _out(config: CaptureConfig) -> CaptureConfigOut:
    return CaptureConfigOut.model_validate(config)


@router.get("", summary="List capture settings (one tenant's, or all)")
def list_settings(
    who: Who,
    settings: Settings,
    tenant: Annotated[str | None, Query(max_length=64, description="Only this tenant's.")] = None,
) -> CaptureConfigsOut:
    if not who.is_admin:
        if tenant is not None and tenant != who.tenant:
            raise NotFoundError(f"tenant {tenant!r} does not exist")
        tenant = who.tenant
    if tenant is not None:
        _check(tenant)
    return CaptureConfigsOut(items=[_out(c) for c in settings.list_configs(tenant)])


@router.get("/stats", summary="Capture writer counters: enqueued, dropped, written, failed")
def capture_stats(request: Request, who: Who) -> CaptureStatsOut:
    who.require_admin("the capture counters")
    capture: DataCapture | None = request.app.state.capture
    if capture is None:
        return CaptureStatsOut(running=False)
    return CaptureStatsOut(running=True, **dataclasses.asdict(capture.stats()))


@router.get("/models/{tenant}/{model}", summary="What a model captures now, and why")
def show_setting(tenant: str, model: str, who: Who, settings: Settings) -> EffectiveCaptureOut:
    _check(tenant, model)
    who.require_visible(tenant, f"model {tenant}/{model}")
    return EffectiveCaptureOut.model_validate(settings.get_config(tenant, model))


@router.put("/models/{tenant}/{model}", summary="Set a model's capture percentage")
def set_model(
    tenant: str, model: str, body: CapturePercentIn, who: Who, settings: Settings
) -> CaptureConfigOut:
    who.require_admin("changing data capture")
    _check(tenant, model)
    return _out(settings.set_config(tenant, model, body.percent, _actor(who)))


@router.delete("/models/{tenant}/{model}", summary="Remove a model's own capture setting")
def remove_model(tenant: str, model: str, who: Who, settings: Settings) -> CaptureConfigOut:
    who.require_admin("changing data capture")
    _check(tenant, model)
    return _out(settings.remove_config(tenant, model, _actor(who)))


@router.put("/tenants/{tenant}", summary="Set a tenant's default capture percentage")
def set_tenant(
    tenant: str, body: CapturePercentIn, who: Who, settings: Settings
) -> CaptureConfigOut:
    who.require_admin("changing data capture")
    _check(tenant)
    return _out(settings.set_config(tenant, None, body.percent, _actor(who)))


@router.delete("/tenants/{tenant}", summary="Remove a tenant's default capture setting")
def remove_tenant(tenant: str, who: Who, settings: Settings) -> CaptureConfigOut:
    who.require_admin("changing data capture")
    _check(tenant)
    return _out(settings.remove_config(tenant, None, _actor(who)))
