"""``/api/v1/keys`` and ``/api/v1/access/history``: API keys and the audit of key and plan
changes (admin keys only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from shoal.access.records import AccessEventQuery
from shoal.api.errors import ERROR_RESPONSES
from shoal.api.management.context import Paging, Services, Who, actor_of, admin
from shoal.api.management.limits import JsonRoute
from shoal.api.management.schemas import (
    AccessEventOut,
    KeyCreatedOut,
    KeyIn,
    KeyOut,
    PageOut,
)

router = APIRouter(
    prefix="/api/v1", tags=["access"], responses=ERROR_RESPONSES, route_class=JsonRoute
)


@router.post("/keys", status_code=201, summary="Create an API key; its token is shown once")
def create_key(body: KeyIn, who: Who, services: Services) -> KeyCreatedOut:
    admin(who, "creating an API key")
    key, token = services.access.keys.create(
        body.scope, body.tenant, body.name, actor_of(who, services)
    )
    return KeyCreatedOut(key=KeyOut.model_validate(key), token=token)


@router.get("/keys", summary="List API keys (never their tokens), oldest first")
def list_keys(
    who: Who,
    services: Services,
    paging: Paging,
    tenant: Annotated[str | None, Query(max_length=64)] = None,
) -> PageOut[KeyOut]:
    admin(who, "listing API keys")
    return PageOut[KeyOut].model_validate(services.access.keys.list_keys(tenant, paging))


@router.get("/keys/{key_id}", summary="Show an API key")
def get_key(key_id: str, who: Who, services: Services) -> KeyOut:
    admin(who, "reading an API key")
    return KeyOut.model_validate(services.access.keys.get_key(key_id))


@router.post("/keys/{key_id}/revoke", summary="Revoke an API key (every server within seconds)")
def revoke_key(key_id: str, who: Who, services: Services) -> KeyOut:
    admin(who, "revoking an API key")
    return KeyOut.model_validate(services.access.keys.revoke(key_id, actor_of(who, services)))


@router.get("/access/history", summary="Who created or revoked keys and set or removed plans")
def access_history(
    who: Who,
    services: Services,
    paging: Paging,
    subject: Annotated[
        str | None, Query(max_length=80, description="key:<id>, or a plan's subject")
    ] = None,
    tenant: Annotated[str | None, Query(max_length=64)] = None,
) -> PageOut[AccessEventOut]:
    admin(who, "reading the access audit log")
    query = AccessEventQuery(subject, tenant)
    return PageOut[AccessEventOut].model_validate(services.access.history(query, paging))
