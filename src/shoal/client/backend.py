"""``Backend``: every operation a ``Client`` offers, embedded or over HTTP.

Backends take parsed references and records, never strings to split; who acts is the
backend's business (the embedded actor, or the API key a server sees).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

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


class Backend(Protocol):
    """Where a client's calls go: the local stores, or a remote server."""

    @property
    def actor(self) -> str:
        """Who the audit logs record for this backend's changes."""
        ...

    def close(self) -> None: ...

    # -- tenants ---------------------------------------------------------------------------

    def create_tenant(self, name: str, description: str) -> Tenant: ...

    def get_tenant(self, name: str) -> Tenant: ...

    def list_tenants(self, page: PageRequest) -> Page[Tenant]: ...

    # -- registry --------------------------------------------------------------------------

    def register_many(self, requests: Sequence[RegistrationRequest]) -> list[ModelVersion]:
        """Register versions in one metadata transaction (all or none)."""
        ...

    def get_model(self, ref: ModelRef) -> RegisteredModel: ...

    def get_version(self, ref: ModelRef) -> ModelVersion: ...

    def list_models(self, query: ModelQuery, page: PageRequest) -> Page[RegisteredModel]: ...

    def list_versions(self, ref: ModelRef, page: PageRequest) -> Page[ModelVersion]: ...

    def history(self, query: AuditQuery, page: PageRequest) -> Page[AuditEvent]: ...

    def set_alias(self, ref: ModelRef, alias: str) -> AuditEvent: ...

    def remove_alias(self, ref: ModelRef, alias: str) -> AuditEvent: ...

    def set_approval(self, ref: ModelRef, status: ApprovalStatus, comment: str) -> ModelVersion: ...

    def rollback(self, ref: ModelRef, alias: str, to: int | None) -> AuditEvent: ...

    def delete(self, ref: ModelRef) -> list[ModelVersion]: ...

    def predict(self, ref: ModelRef, inputs: Tensors) -> dict[str, NDArray[np.generic]]: ...

    # -- access ----------------------------------------------------------------------------

    def create_key(self, scope: Scope, tenant: str | None, name: str) -> tuple[ApiKey, str]: ...

    def get_key(self, key_id: str) -> ApiKey: ...

    def list_keys(self, tenant: str | None, page: PageRequest) -> Page[ApiKey]: ...

    def revoke_key(self, key_id: str) -> ApiKey: ...

    def set_plan(self, plan: UsagePlan) -> UsagePlan: ...

    def get_plan(self, subject: str) -> UsagePlan: ...

    def remove_plan(self, subject: str) -> UsagePlan: ...

    def list_plans(self, page: PageRequest) -> Page[UsagePlan]: ...

    def usage(self, subject: str) -> list[Usage]: ...

    def access_history(self, query: AccessEventQuery, page: PageRequest) -> Page[AccessEvent]: ...
