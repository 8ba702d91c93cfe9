"""Registry records: tenants, models, immutable versions, lineage, audit events, pages."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Generic, TypeVar

from shoal.runtimes.signature import Signature

JsonScalar = str | int | float | bool | None
"""A parameter value: anything JSON can hold as a scalar."""


class ApprovalStatus(StrEnum):
    """Where a version stands in review; serving prefers approved versions."""

    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class AuditAction(StrEnum):
    """What an audit event records."""

    TENANT_CREATED = "tenant.created"
    VERSION_REGISTERED = "version.registered"
    VERSION_DELETED = "version.deleted"
    MODEL_DELETED = "model.deleted"
    ALIAS_SET = "alias.set"
    ALIAS_ROLLED_BACK = "alias.rolled_back"
    ALIAS_REMOVED = "alias.removed"
    APPROVAL_SET = "approval.set"


@dataclass(frozen=True, slots=True)
class Lineage:
    """Where a version came from: the pipeline run and the data snapshot that produced it."""

    run_id: str | None = None
    snapshot_id: str | None = None


@dataclass(frozen=True, slots=True)
class ArtifactInfo:
    """A stored, content-addressed artifact: its sha256 hex digest and its size in bytes."""

    digest: str
    size: int


@dataclass(frozen=True, slots=True)
class Tenant:
    """A customer (or team) that owns models."""

    name: str
    description: str
    created_at: datetime
    created_by: str


@dataclass(frozen=True, slots=True)
class RegisteredModel:
    """A named model of a tenant; its versions are immutable and numbered from 1."""

    tenant: str
    name: str
    created_at: datetime
    latest_version: int
    aliases: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class VersionDraft:
    """Everything needed to record a new version; the store assigns the version number."""

    tenant: str
    model: str
    format: str
    artifact: ArtifactInfo
    signature: Signature
    created_at: datetime
    created_by: str
    params: Mapping[str, JsonScalar] = field(default_factory=dict)
    metrics: Mapping[str, float] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)
    description: str = ""
    lineage: Lineage = Lineage()
    approval: ApprovalStatus = ApprovalStatus.PENDING

    def numbered(self, version: int, created_at: datetime | None = None) -> ModelVersion:
        """The record this draft becomes once the store gives it ``version``."""
        return ModelVersion(
            tenant=self.tenant,
            model=self.model,
            version=version,
            format=self.format,
            artifact=self.artifact,
            signature=self.signature,
            created_at=created_at or self.created_at,
            created_by=self.created_by,
            params=dict(self.params),
            metrics=dict(self.metrics),
            tags=dict(self.tags),
            description=self.description,
            lineage=self.lineage,
            approval=ApprovalStatus(self.approval),
        )


@dataclass(frozen=True, slots=True)
class ModelVersion:
    """One immutable version of a model, with the aliases that point at it when it was read."""

    tenant: str
    model: str
    version: int
    format: str
    artifact: ArtifactInfo
    signature: Signature
    created_at: datetime
    created_by: str
    params: Mapping[str, JsonScalar] = field(default_factory=dict)
    metrics: Mapping[str, float] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)
    description: str = ""
    lineage: Lineage = Lineage()
    approval: ApprovalStatus = ApprovalStatus.PENDING
    aliases: tuple[str, ...] = ()

    @property
    def ref(self) -> str:
        """``tenant/model:version``."""
        return f"{self.tenant}/{self.model}:{self.version}"


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """One change kept forever: who did what, when, to which model, from which version to which."""

    id: int
    at: datetime
    actor: str
    action: AuditAction
    tenant: str
    model: str | None = None
    version: int | None = None
    alias: str | None = None
    previous_version: int | None = None
    comment: str = ""


@dataclass(frozen=True, slots=True)
class ModelQuery:
    """Which models to list: all, one tenant's, and/or those whose name starts with a prefix."""

    tenant: str | None = None
    name_prefix: str | None = None


@dataclass(frozen=True, slots=True)
class AuditQuery:
    """Which audit events to list (newest first)."""

    tenant: str | None = None
    model: str | None = None
    alias: str | None = None


MAX_PAGE_SIZE = 1000


@dataclass(frozen=True, slots=True)
class PageRequest:
    """Keyset pagination: at most ``limit`` items after the opaque ``cursor`` of a previous page."""

    limit: int = 100
    cursor: str | None = None


T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a listing; ``next_cursor`` is None on the last page."""

    items: tuple[T, ...]
    next_cursor: str | None = None
