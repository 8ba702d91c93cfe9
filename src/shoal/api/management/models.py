"""``/api/v1/models``: read models, versions and the audit log; move aliases, review, roll back,
delete.

Tenant keys read their own tenant's models only (another tenant's answer 404, like a model that
does not exist); every change needs an admin key. ``{version}`` is a number or an alias.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from shoal.api.errors import ERROR_RESPONSES
from shoal.api.management.context import Paging, Services, Who, actor_of, admin, own_tenant
from shoal.api.management.limits import JsonRoute
from shoal.api.management.schemas import (
    AliasTargetIn,
    ApprovalIn,
    AuditEventOut,
    ModelOut,
    PageOut,
    RollbackIn,
    VersionOut,
)
from shoal.api.v2.routes import model_ref, visible_ref
from shoal.errors import ValidationError
from shoal.registry.records import AuditQuery, ModelQuery
from shoal.registry.refs import ModelRef

router = APIRouter(
    prefix="/api/v1", tags=["models"], responses=ERROR_RESPONSES, route_class=JsonRoute
)

MODEL = "/models/{tenant}/{model}"
VERSION = MODEL + "/versions/{version}"
Filter = Annotated[str | None, Query(max_length=64)]


@router.get("/models", summary="List models by tenant and name")
def list_models(
    who: Who, services: Services, paging: Paging, tenant: Filter = None, prefix: Filter = None
) -> PageOut[ModelOut]:
    query = ModelQuery(own_tenant(who, tenant), prefix)
    return PageOut[ModelOut].model_validate(services.registry.list_models(query, paging))


@router.get(MODEL, summary="Show a model: latest version number and aliases")
def get_model(tenant: str, model: str, who: Who, services: Services) -> ModelOut:
    return ModelOut.model_validate(services.registry.get_model(visible_ref(who, tenant, model)))


@router.get(MODEL + "/versions", summary="List a model's versions, newest first")
def list_versions(
    tenant: str, model: str, who: Who, services: Services, paging: Paging
) -> PageOut[VersionOut]:
    ref = visible_ref(who, tenant, model)
    return PageOut[VersionOut].model_validate(services.registry.list_versions(ref, paging))


@router.get(
    MODEL + "/default-version",
    summary="The version a reference without version picks (production, latest approved, latest)",
)
def get_default_version(tenant: str, model: str, who: Who, services: Services) -> VersionOut:
    return VersionOut.model_validate(services.registry.get_version(visible_ref(who, tenant, model)))


@router.get(VERSION, summary="Show a version (number or alias)")
def get_version(tenant: str, model: str, version: str, who: Who, services: Services) -> VersionOut:
    ref = visible_ref(who, tenant, model, version)
    return VersionOut.model_validate(services.registry.get_version(ref))


@router.get("/history", summary="Audit log of the registry, newest first")
def history(
    who: Who,
    services: Services,
    paging: Paging,
    tenant: Filter = None,
    model: Filter = None,
    alias: Annotated[str | None, Query(max_length=32)] = None,
) -> PageOut[AuditEventOut]:
    scope = own_tenant(who, tenant)
    if model is not None and scope is None:
        raise ValidationError("the history of a model needs its tenant: ?tenant=...&model=...")
    query = AuditQuery(scope, model, alias)
    return PageOut[AuditEventOut].model_validate(services.registry.history(query, paging))


@router.put(MODEL + "/aliases/{alias}", summary="Point an alias at a version (promotion)")
def set_alias(
    tenant: str, model: str, alias: str, body: AliasTargetIn, who: Who, services: Services
) -> AuditEventOut:
    admin(who, "moving an alias")
    if body.version is not None and body.alias is not None:
        raise ValidationError("give the target's version or its alias, not both")
    ref = ModelRef(tenant, model, version=body.version, alias=body.alias)
    event = services.registry.set_alias(ref, alias, actor_of(who, services))
    return AuditEventOut.model_validate(event)


@router.delete(MODEL + "/aliases/{alias}", summary="Remove an alias")
def remove_alias(
    tenant: str, model: str, alias: str, who: Who, services: Services
) -> AuditEventOut:
    admin(who, "removing an alias")
    ref = model_ref(tenant, model)
    return AuditEventOut.model_validate(
        services.registry.remove_alias(ref, alias, actor_of(who, services))
    )


@router.put(VERSION + "/approval", summary="Approve or reject a version")
def set_approval(
    tenant: str, model: str, version: str, body: ApprovalIn, who: Who, services: Services
) -> VersionOut:
    admin(who, "reviewing a version")
    ref = model_ref(tenant, model, version)
    reviewed = services.registry.set_approval(
        ref, body.status, actor_of(who, services), body.comment
    )
    return VersionOut.model_validate(reviewed)


@router.post(MODEL + "/rollback", summary="Move an alias back to its previous version")
def rollback(
    tenant: str, model: str, body: RollbackIn, who: Who, services: Services
) -> AuditEventOut:
    admin(who, "rolling back an alias")
    ref = model_ref(tenant, model)
    event = services.registry.rollback(ref, actor_of(who, services), body.alias, body.to)
    return AuditEventOut.model_validate(event)


@router.delete(VERSION, summary="Delete one version (by number)")
def delete_version(
    tenant: str, model: str, version: str, who: Who, services: Services
) -> list[VersionOut]:
    admin(who, "deleting a version")
    removed = services.registry.delete(model_ref(tenant, model, version), actor_of(who, services))
    return [VersionOut.model_validate(v) for v in removed]


@router.delete(MODEL, summary="Delete a model with all its versions")
def delete_model(tenant: str, model: str, who: Who, services: Services) -> list[VersionOut]:
    admin(who, "deleting a model")
    removed = services.registry.delete(model_ref(tenant, model), actor_of(who, services))
    return [VersionOut.model_validate(v) for v in removed]
