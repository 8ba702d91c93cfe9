"""Conversions between registry records and rows of the SQL tables, in both directions."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, TypeAlias

from sqlalchemy.engine import Row

from shoal.registry.records import (
    ApprovalStatus,
    ArtifactInfo,
    AuditAction,
    AuditEvent,
    Lineage,
    ModelVersion,
    Tenant,
    VersionDraft,
)
from shoal.runtimes.signature import Signature
from shoal.storage.tables import audit_events, model_versions, tenants

AnyRow: TypeAlias = Row[*tuple[Any, ...]]

VERSION_COLUMNS = tuple(
    model_versions.c[name]
    for name in (
        "version",
        "format",
        "artifact_digest",
        "artifact_size",
        "signature",
        "params",
        "metrics",
        "tags",
        "description",
        "run_id",
        "snapshot_id",
        "created_at",
        "created_by",
        "approval",
    )
)
TENANT_COLUMNS = (
    tenants.c.name,
    tenants.c.description,
    tenants.c.created_at,
    tenants.c.created_by,
)
AUDIT_COLUMNS = tuple(audit_events.c)


def version_values(
    model_id: int, version: int, draft: VersionDraft, at: datetime
) -> dict[str, Any]:
    """The ``model_versions`` row for ``draft`` recorded as ``version`` of model ``model_id``."""
    return {
        "model_id": model_id,
        "version": version,
        "format": draft.format,
        "artifact_digest": draft.artifact.digest,
        "artifact_size": draft.artifact.size,
        "signature": draft.signature.to_dict(),
        "params": dict(draft.params),
        "metrics": dict(draft.metrics),
        "tags": dict(draft.tags),
        "description": draft.description,
        "run_id": draft.lineage.run_id,
        "snapshot_id": draft.lineage.snapshot_id,
        "created_at": at,
        "created_by": draft.created_by,
        "approval": ApprovalStatus(draft.approval).value,
    }


def version_record(
    tenant: str, model: str, row: AnyRow, alias_names: Iterable[str] = ()
) -> ModelVersion:
    """The version a row selected with ``VERSION_COLUMNS`` holds."""
    return ModelVersion(
        tenant=tenant,
        model=model,
        version=row.version,
        format=row.format,
        artifact=ArtifactInfo(row.artifact_digest, row.artifact_size),
        signature=Signature.from_dict(row.signature),
        created_at=row.created_at,
        created_by=row.created_by,
        params=row.params,
        metrics=row.metrics,
        tags=row.tags,
        description=row.description,
        lineage=Lineage(row.run_id, row.snapshot_id),
        approval=ApprovalStatus(row.approval),
        aliases=tuple(sorted(alias_names)),
    )


def versions_with_aliases(tenant: str, model: str, rows: Iterable[AnyRow]) -> list[ModelVersion]:
    """Versions from rows of ``VERSION_COLUMNS`` plus ``pointing_alias`` (one row per alias)."""
    grouped: dict[int, tuple[AnyRow, list[str]]] = {}
    for row in rows:
        _, names = grouped.setdefault(row.version, (row, []))
        if row.pointing_alias is not None:
            names.append(row.pointing_alias)
    return [version_record(tenant, model, row, names) for row, names in grouped.values()]


def aliases_by_version(rows: Iterable[AnyRow]) -> dict[int, list[str]]:
    """``{version: [alias, ...]}`` from rows with ``alias`` and ``version`` columns."""
    found: dict[int, list[str]] = {}
    for row in rows:
        found.setdefault(row.version, []).append(row.alias)
    return found


def tenant_record(row: AnyRow) -> Tenant:
    return Tenant(row.name, row.description, row.created_at, row.created_by)


def audit_values(
    at: datetime,
    actor: str,
    action: AuditAction,
    tenant: str,
    model: str | None = None,
    version: int | None = None,
    alias: str | None = None,
    previous_version: int | None = None,
    comment: str = "",
) -> dict[str, Any]:
    """An ``audit_events`` row (without its id, which the database assigns)."""
    return {
        "at": at,
        "actor": actor,
        "action": AuditAction(action).value,
        "tenant": tenant,
        "model": model,
        "version": version,
        "alias": alias,
        "previous_version": previous_version,
        "comment": comment,
    }


def audit_record(event_id: int, values: Mapping[Any, Any]) -> AuditEvent:
    """The event stored as ``values`` (a row mapping or ``audit_values``) under ``event_id``."""
    return AuditEvent(
        id=event_id,
        at=values["at"],
        actor=values["actor"],
        action=AuditAction(values["action"]),
        tenant=values["tenant"],
        model=values["model"],
        version=values["version"],
        alias=values["alias"],
        previous_version=values["previous_version"],
        comment=values["comment"],
    )
