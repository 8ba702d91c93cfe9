"""The storage roles the registry needs; ``shoal.storage`` implements them (SQL, fsspec, memory)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import BinaryIO, Protocol

from shoal.registry.records import (
    ApprovalStatus,
    ArtifactInfo,
    AuditAction,
    AuditEvent,
    AuditQuery,
    ModelQuery,
    ModelVersion,
    Page,
    PageRequest,
    RegisteredModel,
    Tenant,
    VersionDraft,
)


class RegistryStore(Protocol):
    """Metadata of tenants, models, versions, aliases and the audit log.

    Every method is one atomic transaction. Methods that change state append their audit event
    in the same transaction. Unknown tenants/models/versions raise ``NotFoundError``; duplicates
    and clashes raise ``ConflictError``; driver failures raise ``StorageError``.
    """

    def add_tenant(self, name: str, description: str, actor: str, at: datetime) -> Tenant:
        """Create a tenant; ``ConflictError`` if it exists."""
        ...

    def find_tenant(self, name: str) -> Tenant | None: ...

    def list_tenants(self, page: PageRequest) -> Page[Tenant]:
        """Tenants ordered by name."""
        ...

    def add_versions(self, drafts: Sequence[VersionDraft]) -> list[ModelVersion]:
        """Record new versions in one transaction, creating models on first use.

        Version numbers are allocated atomically per model (safe across processes). An unknown
        tenant raises ``NotFoundError`` and records nothing.
        """
        ...

    def find_model(self, tenant: str, model: str) -> RegisteredModel | None: ...

    def list_models(self, query: ModelQuery, page: PageRequest) -> Page[RegisteredModel]:
        """Models ordered by (tenant, name)."""
        ...

    def find_version(self, tenant: str, model: str, version: int) -> ModelVersion | None: ...

    def find_aliased(self, tenant: str, model: str, alias: str) -> ModelVersion | None:
        """The version an alias points at, or None when the alias is not set."""
        ...

    def find_latest(
        self, tenant: str, model: str, approval: ApprovalStatus | None = None
    ) -> ModelVersion | None:
        """The highest-numbered version, optionally only among versions with ``approval``."""
        ...

    def default_versions(
        self, alias: str, after: tuple[str, str] | None, limit: int
    ) -> tuple[list[ModelVersion], tuple[str, str] | None]:
        """What a reference without a version serves, for up to ``limit`` models after
        ``after`` in (tenant, model) order: the version ``alias`` points at, else the latest
        approved, else the latest pending (models with none are left out). Also returns the
        last model of the page to continue after, None when there are no more."""
        ...

    def list_versions(self, tenant: str, model: str, page: PageRequest) -> Page[ModelVersion]:
        """Versions of one model, newest first; ``NotFoundError`` if the model does not exist."""
        ...

    def set_alias(
        self,
        tenant: str,
        model: str,
        alias: str,
        version: int,
        actor: str,
        at: datetime,
        action: AuditAction = AuditAction.ALIAS_SET,
    ) -> AuditEvent:
        """Point ``alias`` at ``version``; the event records the version it pointed at before."""
        ...

    def remove_alias(
        self, tenant: str, model: str, alias: str, actor: str, at: datetime
    ) -> AuditEvent: ...

    def set_approval(
        self,
        tenant: str,
        model: str,
        version: int,
        status: ApprovalStatus,
        actor: str,
        at: datetime,
        comment: str = "",
    ) -> ModelVersion: ...

    def remove_version(
        self, tenant: str, model: str, version: int, actor: str, at: datetime
    ) -> ModelVersion:
        """Delete one version; ``ConflictError`` while an alias points at it."""
        ...

    def remove_model(self, tenant: str, model: str, actor: str, at: datetime) -> list[ModelVersion]:
        """Delete a model with all its versions and aliases; returns the versions removed."""
        ...

    def list_audit(self, query: AuditQuery, page: PageRequest) -> Page[AuditEvent]:
        """Audit events, newest first."""
        ...

    def count_artifact_refs(self, digest: str) -> int:
        """How many versions (of any tenant) use the artifact with this digest."""
        ...

    def changes_since(self, after_id: int) -> tuple[int, set[tuple[str, str]]]:
        """The newest audit event id, and the (tenant, model) pairs changed after ``after_id``.

        Servers poll this once per interval, instead of re-resolving every model they serve,
        to learn which references may now point elsewhere. ``after_id < 0`` asks only for
        the newest id.
        """
        ...


class ArtifactStore(Protocol):
    """Content-addressed, immutable blobs keyed by their sha256 hex digest.

    Writes are atomic (a blob is either absent or complete); reads verify the digest and raise
    ``CorruptArtifactError`` on a mismatch.
    """

    def put_file(self, path: Path) -> ArtifactInfo:
        """Store a local file; storing the same bytes twice stores them once."""
        ...

    def put_bytes(self, data: bytes) -> ArtifactInfo: ...

    def put_stream(self, stream: BinaryIO) -> ArtifactInfo: ...

    def exists(self, digest: str) -> bool: ...

    def read_bytes(self, digest: str) -> bytes:
        """The verified bytes; ``NotFoundError`` if absent, ``CorruptArtifactError`` if altered."""
        ...

    def iter_chunks(self, digest: str, chunk_size: int = 1 << 20) -> Iterator[bytes]:
        """Stream a blob; the digest is checked when the stream ends."""
        ...

    def copy_to(self, digest: str, dest: Path) -> ArtifactInfo:
        """Write the verified blob to a local file atomically."""
        ...

    def delete(self, digest: str) -> bool:
        """Remove a blob; returns False if it was not there."""
        ...

    def iter_digests(self) -> Iterator[str]:
        """Every stored digest (for garbage collection and audits)."""
        ...
