"""``/api/v1/tenants``: list, create and show tenants (admin keys only)."""

from __future__ import annotations

from fastapi import APIRouter

from shoal.api.errors import ERROR_RESPONSES
from shoal.api.management.context import Paging, Services, Who, actor_of, admin
from shoal.api.management.limits import JsonRoute
from shoal.api.management.schemas import PageOut, TenantIn, TenantOut

router = APIRouter(
    prefix="/api/v1/tenants", tags=["tenants"], responses=ERROR_RESPONSES, route_class=JsonRoute
)


@router.get("", summary="List tenants by name")
def list_tenants(who: Who, services: Services, paging: Paging) -> PageOut[TenantOut]:
    admin(who, "listing tenants")
    return PageOut[TenantOut].model_validate(services.registry.list_tenants(paging))


@router.post("", status_code=201, summary="Create a tenant")
def create_tenant(body: TenantIn, who: Who, services: Services) -> TenantOut:
    admin(who, "creating a tenant")
    created = services.registry.create_tenant(body.name, actor_of(who, services), body.description)
    return TenantOut.model_validate(created)


@router.get("/{tenant}", summary="Show a tenant")
def get_tenant(tenant: str, who: Who, services: Services) -> TenantOut:
    admin(who, "reading a tenant")
    return TenantOut.model_validate(services.registry.get_tenant(tenant))
