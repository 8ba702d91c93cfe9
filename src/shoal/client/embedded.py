"""``EmbeddedBackend``: a client's calls straight to the services over the local stores."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from shoal.access.records import AccessEvent, AccessEventQuery, ApiKey, Scope, Usage, UsagePlan
from shoal.registry.packager import RegistrationRequest
from shoal.registry.records import (
    ApprovalStatus,
    AuditEvent,
    AuditQuery,
    ModelQuery,
    ModelVersion,
    Page,
    PageRequest,
    RegisteredModel,
    Tenant,
)
from shoal.registry.refs import ModelRef
from shoal.runtimes.base import Tensors
from shoal.wiring import Services


class EmbeddedBackend:
    """A ``Backend`` over ``Services``; changes are recorded as made by ``actor``."""

    def __init__(self, services: Services, actor: str) -> None:
        self.services = services
        self.actor = actor
        self._registry = services.registry
        self._access = services.access

    def close(self) -> None:
        self.services.close()

    def create_tenant(self, name: str, description: str) -> Tenant:
        return self._registry.create_tenant(name, self.actor, description)

    def get_tenant(self, name: str) -> Tenant:
        return self._registry.get_tenant(name)

    def list_tenants(self, page: PageRequest) -> Page[Tenant]:
        return self._registry.list_tenants(page)

    def register_many(self, requests: Sequence[RegistrationRequest]) -> list[ModelVersion]:
        return self._registry.register_many(requests, self.actor)

    def get_model(self, ref: ModelRef) -> RegisteredModel:
        return self._registry.get_model(ref)

    def get_version(self, ref: ModelRef) -> ModelVersion:
        return self._registry.get_version(ref)

    def list_models(self, query: ModelQuery, page: PageRequest) -> Page[RegisteredModel]:
        return self._registry.list_models(query, page)

    def list_versions(self, ref: ModelRef, page: PageRequest) -> Page[ModelVersion]:
        return self._registry.list_versions(ref, page)

    def history(self, query: AuditQuery, page: PageRequest) -> Page[AuditEvent]:
        return self._registry.history(query, page)

    def set_alias(self, ref: ModelRef, alias: str) -> AuditEvent:
        return self._registry.set_alias(ref, alias, self.actor)

    def remove_alias(self, ref: ModelRef, alias: str) -> AuditEvent:
        return self._registry.remove_alias(ref, alias, self.actor)

    def set_approval(self, ref: ModelRef, status: ApprovalStatus, comment: str) -> ModelVersion:
        return self._registry.set_approval(ref, status, self.actor, comment)

    def rollback(self, ref: ModelRef, alias: str, to: int | None) -> AuditEvent:
        return self._registry.rollback(ref, self.actor, alias, to)

    def delete(self, ref: ModelRef) -> list[ModelVersion]:
        return self._registry.delete(ref, self.actor)

    def predict(self, ref: ModelRef, inputs: Tensors) -> dict[str, NDArray[np.generic]]:
        loaded = self.services.loader.load(self._registry.get_version(ref))
        return loaded.model.predict(inputs)

    def create_key(self, scope: Scope, tenant: str | None, name: str) -> tuple[ApiKey, str]:
        return self._access.keys.create(scope, tenant, name, self.actor)

    def get_key(self, key_id: str) -> ApiKey:
        return self._access.keys.get_key(key_id)

    def list_keys(self, tenant: str | None, page: PageRequest) -> Page[ApiKey]:
        return self._access.keys.list_keys(tenant, page)

    def revoke_key(self, key_id: str) -> ApiKey:
        return self._access.keys.revoke(key_id, self.actor)

    def set_plan(self, plan: UsagePlan) -> UsagePlan:
        return self._access.plans.set_plan(plan, self.actor)

    def get_plan(self, subject: str) -> UsagePlan:
        return self._access.plans.get_plan(subject)

    def remove_plan(self, subject: str) -> UsagePlan:
        return self._access.plans.remove_plan(subject, self.actor)

    def list_plans(self, page: PageRequest) -> Page[UsagePlan]:
        return self._access.plans.list_plans(page)

    def usage(self, subject: str) -> list[Usage]:
        return self._access.plans.usage(subject)

    def access_history(self, query: AccessEventQuery, page: PageRequest) -> Page[AccessEvent]:
        return self._access.history(query, page)
