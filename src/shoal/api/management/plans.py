"""``/api/v1/plans`` and ``/api/v1/usage``: usage plans per tenant or key, and their usage.

Changes need an admin key; a tenant key may read the plan and usage of its own tenant and of
itself (``key:<id>``), and anything else answers 404 as if it had no plan.
"""

from __future__ import annotations

from fastapi import APIRouter

from shoal.access.records import UsagePlan
from shoal.api.errors import ERROR_RESPONSES
from shoal.api.management.context import (
    Paging,
    Services,
    Who,
    actor_of,
    admin,
    visible_subject,
)
from shoal.api.management.limits import JsonRoute
from shoal.api.management.schemas import PageOut, PlanIn, PlanOut, UsageOut

router = APIRouter(
    prefix="/api/v1", tags=["access"], responses=ERROR_RESPONSES, route_class=JsonRoute
)

SUBJECT = "/plans/{subject}"


@router.get("/plans", summary="List usage plans by subject")
def list_plans(who: Who, services: Services, paging: Paging) -> PageOut[PlanOut]:
    admin(who, "listing usage plans")
    return PageOut[PlanOut].model_validate(services.access.plans.list_plans(paging))


@router.get(SUBJECT, summary="Show the plan of a tenant or key:<id>")
def get_plan(subject: str, who: Who, services: Services) -> PlanOut:
    visible_subject(who, subject)
    return PlanOut.model_validate(services.access.plans.get_plan(subject))


@router.put(SUBJECT, summary="Set (or replace) the plan of a tenant or key:<id>")
def set_plan(subject: str, body: PlanIn, who: Who, services: Services) -> PlanOut:
    admin(who, "setting a usage plan")
    plan = UsagePlan(subject, body.rate_per_s, body.burst, body.quota_per_day, body.quota_per_month)
    return PlanOut.model_validate(services.access.plans.set_plan(plan, actor_of(who, services)))


@router.delete(SUBJECT, summary="Remove a plan (the subject is no longer limited)")
def remove_plan(subject: str, who: Who, services: Services) -> PlanOut:
    admin(who, "removing a usage plan")
    removed = services.access.plans.remove_plan(subject, actor_of(who, services))
    return PlanOut.model_validate(removed)


@router.get("/usage/{subject}", summary="Requests used today and this month against the quotas")
def usage(subject: str, who: Who, services: Services) -> list[UsageOut]:
    visible_subject(who, subject)
    return [UsageOut.model_validate(window) for window in services.access.plans.usage(subject)]
