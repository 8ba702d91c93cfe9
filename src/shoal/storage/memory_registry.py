"""``InMemoryRegistryStore``: a small, real, thread-safe registry store for tests and demos.

It behaves like ``SqlRegistryStore`` (same errors, ordering, pagination and audit events; the
contract suite runs over both) but keeps everything in dictionaries behind one lock.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from shoal.registry.records import (
    ApprovalStatus,
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
from shoal.storage import registry_rules as rules


@dataclass(slots=True)
class _ModelState:
    created_at: datetime
    latest_version: int = 0
    versions: dict[int, ModelVersion] = field(default_factory=dict)
    aliases: dict[str, int] = field(default_factory=dict)

    def aliases_of(self, version: int) -> tuple[str, ...]:
        return tuple(sorted(alias for alias, v in self.aliases.items() if v == version))

    def read(self, version: int) -> ModelVersion:
        return replace(self.versions[version], aliases=self.aliases_of(version))


class InMemoryRegistryStore:
    """A ``RegistryStore`` held in memory; every method runs under one lock, so it is atomic."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tenants: dict[str, Tenant] = {}
        self._models: dict[tuple[str, str], _ModelState] = {}
        self._audit: list[AuditEvent] = []

    def _record(
        self,
        at: datetime,
        actor: str,
        action: AuditAction,
        tenant: str,
        *,
        model: str | None = None,
        version: int | None = None,
        alias: str | None = None,
        previous_version: int | None = None,
        comment: str = "",
    ) -> AuditEvent:
        event = AuditEvent(
            len(self._audit) + 1,
            at,
            actor,
            action,
            tenant,
            model,
            version,
            alias,
            previous_version,
            comment,
        )
        self._audit.append(event)
        return event

    def _model(self, tenant: str, model: str) -> _ModelState:
        state = self._models.get((tenant, model))
        if state is None:
            if tenant not in self._tenants:
                raise rules.tenant_missing(tenant)
            raise rules.model_missing(tenant, model)
        return state

    def _version(self, tenant: str, model: str, version: int) -> tuple[_ModelState, ModelVersion]:
        state = self._model(tenant, model)
        if version not in state.versions:
            raise rules.version_missing(tenant, model, version)
        return state, state.versions[version]

    def add_tenant(self, name: str, description: str, actor: str, at: datetime) -> Tenant:
        at = rules.as_utc(at)
        with self._lock:
            if name in self._tenants:
                raise rules.tenant_exists(name)
            tenant = Tenant(name, description, at, actor)
            self._tenants[name] = tenant
            self._record(at, actor, AuditAction.TENANT_CREATED, name)
            return tenant

    def find_tenant(self, name: str) -> Tenant | None:
        with self._lock:
            return self._tenants.get(name)

    def list_tenants(self, page: PageRequest) -> Page[Tenant]:
        after = rules.page_key(page, str)
        with self._lock:
            names = sorted(name for name in self._tenants if after is None or (name,) > after)
            items = [self._tenants[name] for name in names[: page.limit + 1]]
        return rules.page_of(items, page.limit, lambda tenant: (tenant.name,))

    def add_versions(self, drafts: Sequence[VersionDraft]) -> list[ModelVersion]:
        created = [rules.as_utc(draft.created_at, "created_at") for draft in drafts]
        with self._lock:
            for draft in drafts:
                if draft.tenant not in self._tenants:
                    raise rules.tenant_missing(draft.tenant)
            added: list[ModelVersion] = []
            for draft, at in zip(drafts, created, strict=True):
                state = self._models.setdefault((draft.tenant, draft.model), _ModelState(at))
                state.latest_version += 1
                version = draft.numbered(state.latest_version, at)
                state.versions[version.version] = version
                self._record(
                    at,
                    draft.created_by,
                    AuditAction.VERSION_REGISTERED,
                    draft.tenant,
                    model=draft.model,
                    version=version.version,
                )
                added.append(version)
            return added

    def find_model(self, tenant: str, model: str) -> RegisteredModel | None:
        with self._lock:
            state = self._models.get((tenant, model))
            return None if state is None else _registered(tenant, model, state)

    def list_models(self, query: ModelQuery, page: PageRequest) -> Page[RegisteredModel]:
        after = rules.page_key(page, str, str)
        with self._lock:
            if query.tenant is not None and query.tenant not in self._tenants:
                raise rules.tenant_missing(query.tenant)
            keys = sorted(
                key
                for key in self._models
                if (query.tenant is None or key[0] == query.tenant)
                and (query.name_prefix is None or key[1].startswith(query.name_prefix))
                and (after is None or key > after)
            )
            items = [_registered(*key, self._models[key]) for key in keys[: page.limit + 1]]
        return rules.page_of(items, page.limit, lambda model: (model.tenant, model.name))

    def find_version(self, tenant: str, model: str, version: int) -> ModelVersion | None:
        with self._lock:
            state = self._models.get((tenant, model))
            if state is None or version not in state.versions:
                return None
            return state.read(version)

    def find_aliased(self, tenant: str, model: str, alias: str) -> ModelVersion | None:
        with self._lock:
            state = self._models.get((tenant, model))
            if state is None or alias not in state.aliases:
                return None
            return state.read(state.aliases[alias])

    def find_latest(
        self, tenant: str, model: str, approval: ApprovalStatus | None = None
    ) -> ModelVersion | None:
        with self._lock:
            state = self._models.get((tenant, model))
            if state is None:
                return None
            numbers = [
                number
                for number, version in state.versions.items()
                if approval is None or version.approval == approval
            ]
            return state.read(max(numbers)) if numbers else None

    def default_versions(
        self, alias: str, after: tuple[str, str] | None, limit: int
    ) -> tuple[list[ModelVersion], tuple[str, str] | None]:
        with self._lock:
            keys = sorted(k for k in self._models if after is None or k > after)[:limit]
            found = []
            for key in keys:
                state = self._models[key]
                newest = {
                    approval: max(
                        (n for n, v in state.versions.items() if v.approval == approval),
                        default=None,
                    )
                    for approval in (ApprovalStatus.APPROVED, ApprovalStatus.PENDING)
                }
                number = rules.default_number(
                    state.aliases.get(alias),
                    newest[ApprovalStatus.APPROVED],
                    newest[ApprovalStatus.PENDING],
                )
                if number is not None:
                    found.append(state.read(number))
        return found, (keys[-1] if len(keys) == limit else None)

    def list_versions(self, tenant: str, model: str, page: PageRequest) -> Page[ModelVersion]:
        after = rules.page_key(page, int)
        with self._lock:
            state = self._model(tenant, model)
            numbers = sorted(
                (n for n in state.versions if after is None or (n,) < after), reverse=True
            )
            items = [state.read(number) for number in numbers[: page.limit + 1]]
        return rules.page_of(items, page.limit, lambda version: (version.version,))

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
        rules.check_alias_action(action)
        at = rules.as_utc(at)
        with self._lock:
            state, _ = self._version(tenant, model, version)
            previous = state.aliases.get(alias)
            state.aliases[alias] = version
            return self._record(
                at,
                actor,
                AuditAction(action),
                tenant,
                model=model,
                version=version,
                alias=alias,
                previous_version=previous,
            )

    def remove_alias(
        self, tenant: str, model: str, alias: str, actor: str, at: datetime
    ) -> AuditEvent:
        at = rules.as_utc(at)
        with self._lock:
            state = self._model(tenant, model)
            if alias not in state.aliases:
                raise rules.alias_missing(tenant, model, alias)
            previous = state.aliases.pop(alias)
            return self._record(
                at,
                actor,
                AuditAction.ALIAS_REMOVED,
                tenant,
                model=model,
                alias=alias,
                previous_version=previous,
            )

    def set_approval(
        self,
        tenant: str,
        model: str,
        version: int,
        status: ApprovalStatus,
        actor: str,
        at: datetime,
        comment: str = "",
    ) -> ModelVersion:
        at = rules.as_utc(at)
        with self._lock:
            state, current = self._version(tenant, model, version)
            state.versions[version] = replace(current, approval=ApprovalStatus(status))
            self._record(
                at,
                actor,
                AuditAction.APPROVAL_SET,
                tenant,
                model=model,
                version=version,
                comment=comment,
            )
            return state.read(version)

    def remove_version(
        self, tenant: str, model: str, version: int, actor: str, at: datetime
    ) -> ModelVersion:
        at = rules.as_utc(at)
        with self._lock:
            state, removed = self._version(tenant, model, version)
            pointing = [alias for alias, v in state.aliases.items() if v == version]
            if pointing:
                raise rules.version_aliased(tenant, model, version, pointing)
            del state.versions[version]
            self._record(
                at, actor, AuditAction.VERSION_DELETED, tenant, model=model, version=version
            )
            return removed

    def remove_model(self, tenant: str, model: str, actor: str, at: datetime) -> list[ModelVersion]:
        at = rules.as_utc(at)
        with self._lock:
            state = self._model(tenant, model)
            removed = [state.read(number) for number in sorted(state.versions)]
            del self._models[(tenant, model)]
            self._record(at, actor, AuditAction.MODEL_DELETED, tenant, model=model)
            return removed

    def list_audit(self, query: AuditQuery, page: PageRequest) -> Page[AuditEvent]:
        after = rules.page_key(page, int)
        with self._lock:
            matching = [
                event
                for event in reversed(self._audit)
                if (query.tenant is None or event.tenant == query.tenant)
                and (query.model is None or event.model == query.model)
                and (query.alias is None or event.alias == query.alias)
                and (after is None or (event.id,) < after)
            ]
        return rules.page_of(matching[: page.limit + 1], page.limit, lambda event: (event.id,))

    def changes_since(self, after_id: int) -> tuple[int, set[tuple[str, str]]]:
        with self._lock:
            newest = self._audit[-1].id if self._audit else 0
            if after_id < 0:
                return newest, set()
            changed = {
                (event.tenant, event.model)
                for event in self._audit
                if event.id > after_id and event.model is not None
            }
        return max(newest, after_id), changed

    def count_artifact_refs(self, digest: str) -> int:
        with self._lock:
            return sum(
                1
                for state in self._models.values()
                for version in state.versions.values()
                if version.artifact.digest == digest
            )


def _registered(tenant: str, model: str, state: _ModelState) -> RegisteredModel:
    return RegisteredModel(
        tenant, model, state.created_at, state.latest_version, dict(sorted(state.aliases.items()))
    )
