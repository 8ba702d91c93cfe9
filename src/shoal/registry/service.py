"""The model registry: tenants, registration, resolution of refs, aliases, approvals, rollback."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from shoal.errors import ConflictError, NotFoundError, ShoalError, ValidationError
from shoal.registry.names import check_alias, check_name
from shoal.registry.packager import Packager, RegistrationRequest
from shoal.registry.pages import check_page
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
from shoal.registry.refs import ModelRef
from shoal.registry.store import RegistryStore

logger = logging.getLogger(__name__)

PRODUCTION = "production"
"""The alias a reference without version or alias resolves to first."""

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


class RegistryService:
    """Every registry operation; the CLI, the Python client and the HTTP API call only this."""

    def __init__(self, store: RegistryStore, packager: Packager, clock: Clock = utc_now):
        self._store = store
        self._packager = packager
        self._clock = clock

    # -- tenants ---------------------------------------------------------------------------

    def create_tenant(self, name: str, actor: str, description: str = "") -> Tenant:
        return self._store.add_tenant(
            check_name(name, "tenant name"), description, actor, self._clock()
        )

    def get_tenant(self, name: str) -> Tenant:
        tenant = self._store.find_tenant(check_name(name, "tenant name"))
        if tenant is None:
            raise NotFoundError(f"tenant {name!r} does not exist")
        return tenant

    def list_tenants(self, page: PageRequest = PageRequest()) -> Page[Tenant]:
        return self._store.list_tenants(check_page(page))

    # -- registration ----------------------------------------------------------------------

    def register(self, request: RegistrationRequest, actor: str) -> ModelVersion:
        """Save, verify, store and record one version; on any failure nothing is left behind."""
        return self.register_many([request], actor)[0]

    def register_many(
        self, requests: Sequence[RegistrationRequest], actor: str
    ) -> list[ModelVersion]:
        """Register several versions in one metadata transaction (bulk imports)."""
        for tenant in {request.ref.tenant for request in requests}:
            self.get_tenant(tenant)  # fail before any work is done
        drafts: list[VersionDraft] = []
        try:
            for request in requests:
                drafts.append(self._packager.package(request, actor, self._clock()))
            versions = self._store.add_versions(drafts)
        except BaseException:
            self._discard([draft.artifact for draft in drafts])
            raise
        for request, version in zip(requests, versions, strict=True):
            for alias in request.aliases:
                self._store.set_alias(
                    version.tenant,
                    version.model,
                    check_alias(alias),
                    version.version,
                    actor,
                    self._clock(),
                )
        if any(request.aliases for request in requests):
            return [self.get_version(ModelRef.parse(version.ref)) for version in versions]
        return versions

    def _discard(self, artifacts: Sequence[ArtifactInfo]) -> None:
        """Delete artifacts that no recorded version refers to (after a failure or a delete)."""
        for artifact in artifacts:
            try:
                used = self._store.count_artifact_refs(artifact.digest) > 0
                self._packager.discard(artifact, still_used=used)
            except ShoalError:
                logger.warning("could not remove unused artifact %s", artifact.digest)

    # -- reading ---------------------------------------------------------------------------

    def get_model(self, ref: ModelRef) -> RegisteredModel:
        model = self._store.find_model(ref.tenant, ref.model)
        if model is None:
            self.get_tenant(ref.tenant)
            raise NotFoundError(f"model {ref.name} does not exist")
        return model

    def list_models(
        self, query: ModelQuery = ModelQuery(), page: PageRequest = PageRequest()
    ) -> Page[RegisteredModel]:
        if query.tenant is not None:
            check_name(query.tenant, "tenant name")
        return self._store.list_models(query, check_page(page))

    def list_versions(self, ref: ModelRef, page: PageRequest = PageRequest()) -> Page[ModelVersion]:
        self.get_model(ref)
        return self._store.list_versions(ref.tenant, ref.model, check_page(page))

    def get_version(self, ref: ModelRef) -> ModelVersion:
        """The version ``ref`` points at; ``NotFoundError`` says which part is missing.

        Without a version or alias: the ``production`` alias, else the latest approved version,
        else the latest pending one. Rejected versions are never picked implicitly.
        """
        found: ModelVersion | None
        if ref.version is not None:
            found = self._store.find_version(ref.tenant, ref.model, ref.version)
            missing = f"model {ref.name} has no version {ref.version}"
        elif ref.alias is not None:
            found = self._store.find_aliased(ref.tenant, ref.model, ref.alias)
            missing = f"alias {ref.alias!r} is not set on model {ref.name}"
        else:
            found = (
                self._store.find_aliased(ref.tenant, ref.model, PRODUCTION)
                or self._store.find_latest(ref.tenant, ref.model, ApprovalStatus.APPROVED)
                or self._store.find_latest(ref.tenant, ref.model, ApprovalStatus.PENDING)
            )
            missing = f"model {ref.name} has no version that is not rejected"
        if found is None:
            self.get_model(ref)
            raise NotFoundError(missing)
        return found

    def default_versions(
        self, after: tuple[str, str] | None = None, limit: int = 25
    ) -> tuple[list[ModelVersion], tuple[str, str] | None]:
        """What up to ``limit`` models after ``after`` serve to a reference without a version
        (see ``get_version``), and the model to continue after (None: no more). A server
        learns all its routes this way in a few queries per page."""
        return self._store.default_versions(PRODUCTION, after, limit)

    def changes_since(self, after_id: int) -> tuple[int, set[tuple[str, str]]]:
        """See ``RegistryStore.changes_since``: what changed, for servers that cache routes."""
        return self._store.changes_since(after_id)

    def history(self, query: AuditQuery, page: PageRequest = PageRequest()) -> Page[AuditEvent]:
        return self._store.list_audit(query, check_page(page))

    # -- changes ---------------------------------------------------------------------------

    def set_alias(self, ref: ModelRef, alias: str, actor: str) -> AuditEvent:
        """Point ``alias`` at the version ``ref`` names (promotion); the move is audited."""
        version = self.get_version(ref)
        return self._store.set_alias(
            version.tenant, version.model, check_alias(alias), version.version, actor, self._clock()
        )

    def remove_alias(self, ref: ModelRef, alias: str, actor: str) -> AuditEvent:
        self.get_model(ref)
        if self._store.find_aliased(ref.tenant, ref.model, check_alias(alias)) is None:
            raise NotFoundError(f"alias {alias!r} is not set on model {ref.name}")
        return self._store.remove_alias(ref.tenant, ref.model, alias, actor, self._clock())

    def set_approval(
        self, ref: ModelRef, status: ApprovalStatus, actor: str, comment: str = ""
    ) -> ModelVersion:
        if ref.version is None and ref.alias is None:
            raise ValidationError(f"say which version to review: {ref}:N or {ref}@alias")
        version = self.get_version(ref)
        return self._store.set_approval(
            version.tenant, version.model, version.version, status, actor, self._clock(), comment
        )

    def rollback(
        self, ref: ModelRef, actor: str, alias: str = PRODUCTION, to: int | None = None
    ) -> AuditEvent:
        """Move ``alias`` back to the version it held before the current one (or to ``to``).

        The alias history is replayed as a stack: a promotion pushes, a rollback pops, so repeated
        rollbacks walk back through v3 -> v2 -> v1 rather than flip between two versions.
        """
        check_alias(alias)
        current = self._store.find_aliased(ref.tenant, ref.model, alias)
        if current is None:
            self.get_model(ref)
            raise NotFoundError(f"alias {alias!r} is not set on model {ref.name}")
        target = to if to is not None else self._previous_holder(ref, alias, current.version)
        if self._store.find_version(ref.tenant, ref.model, target) is None:
            raise NotFoundError(f"model {ref.name} has no version {target} to roll back to")
        if target == current.version:
            raise ConflictError(f"alias {alias!r} of {ref.name} already points at version {target}")
        return self._store.set_alias(
            ref.tenant,
            ref.model,
            alias,
            target,
            actor,
            self._clock(),
            AuditAction.ALIAS_ROLLED_BACK,
        )

    def _previous_holder(self, ref: ModelRef, alias: str, current: int) -> int:
        events: list[AuditEvent] = []
        page = PageRequest(limit=1000)
        while True:
            batch = self._store.list_audit(AuditQuery(ref.tenant, ref.model, alias), page)
            events.extend(batch.items)
            if batch.next_cursor is None:
                break
            page = PageRequest(limit=1000, cursor=batch.next_cursor)
        stack: list[int] = []
        for event in reversed(events):  # oldest first
            if event.action is AuditAction.ALIAS_SET and event.version is not None:
                stack.append(event.version)
            elif event.action is AuditAction.ALIAS_ROLLED_BACK and event.version is not None:
                while stack and stack[-1] != event.version:
                    stack.pop()
                if not stack:
                    stack.append(event.version)
            elif event.action is AuditAction.ALIAS_REMOVED:
                stack.clear()
        while stack and stack[-1] == current:
            stack.pop()
        for candidate in reversed(stack):
            version = self._store.find_version(ref.tenant, ref.model, candidate)
            if version is not None and version.approval is not ApprovalStatus.REJECTED:
                return candidate
        raise ConflictError(
            f"alias {alias!r} of {ref.name} has no earlier version to roll back to; "
            "name one with --to"
        )

    def delete(self, ref: ModelRef, actor: str) -> list[ModelVersion]:
        """Delete one version (``t/m:3``) or a whole model (``t/m``); unused artifacts go too."""
        if ref.alias is not None:
            raise ValidationError(f"delete takes t/m or t/m:N, not an alias: {ref}")
        if ref.version is not None:
            self.get_version(ref)
            removed = [
                self._store.remove_version(ref.tenant, ref.model, ref.version, actor, self._clock())
            ]
        else:
            self.get_model(ref)
            removed = self._store.remove_model(ref.tenant, ref.model, actor, self._clock())
        self._discard([version.artifact for version in removed])
        return removed
