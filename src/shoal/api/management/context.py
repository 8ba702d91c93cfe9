"""What management routes share: the services they call, who is calling, what they may see."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Query, Request

from shoal.access.records import Principal
from shoal.access.service import AccessService
from shoal.api.auth import LOCAL, principal
from shoal.errors import NotFoundError
from shoal.registry.records import MAX_PAGE_SIZE, PageRequest
from shoal.registry.service import RegistryService


@dataclass(frozen=True, slots=True)
class Management:
    """The services behind ``/api/v1``.

    ``access`` manages keys and plans even when the server runs without authentication
    (``--no-auth``); ``actor`` is recorded for changes made without a key.
    """

    registry: RegistryService
    access: AccessService
    actor: str


def management(request: Request) -> Management:
    found: Management = request.app.state.management
    return found


Who = Annotated[Principal, Depends(principal)]
Services = Annotated[Management, Depends(management)]


def actor_of(who: Principal, services: Management) -> str:
    """Who a change is recorded as: the API key that made it (``key:<id>``)."""
    return services.actor if who is LOCAL else f"key:{who.key_id}"


def admin(who: Principal, operation: str) -> None:
    """``AccessDeniedError`` (403) unless an admin key calls."""
    who.require_admin(operation)


def own_tenant(who: Principal, tenant: str | None) -> str | None:
    """The tenant a listing covers: a tenant key sees only its own, and asking for another
    tenant answers as if it did not exist; an admin key sees what it asks for."""
    if who.is_admin:
        return tenant
    if tenant is not None and tenant != who.tenant:
        raise NotFoundError(f"tenant {tenant!r} does not exist")
    return who.tenant


def visible_subject(who: Principal, subject: str) -> None:
    """A tenant key may read the plan and usage of its tenant and of itself only."""
    if who.is_admin or subject in {who.tenant, f"key:{who.key_id}"}:
        return
    raise NotFoundError(f"no usage plan for {subject!r}")


def page(
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description="Page size.")] = 100,
    cursor: Annotated[
        str | None, Query(max_length=1024, description="next_cursor of the previous page.")
    ] = None,
) -> PageRequest:
    return PageRequest(limit, cursor)


Paging = Annotated[PageRequest, Depends(page)]
