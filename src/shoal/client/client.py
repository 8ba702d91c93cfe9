"""``shoal.Client``: register, find, promote and call models — embedded or on a remote server."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

import httpx
import numpy as np
from numpy.typing import NDArray

from shoal.access.records import AccessEvent, AccessEventQuery, ApiKey, Scope, Usage, UsagePlan
from shoal.client.backend import Backend
from shoal.errors import ValidationError
from shoal.registry.importer import ImportReport, import_tree
from shoal.registry.packager import RegistrationRequest
from shoal.registry.records import (
    ApprovalStatus,
    AuditEvent,
    AuditQuery,
    JsonScalar,
    Lineage,
    ModelQuery,
    ModelVersion,
    Page,
    PageRequest,
    RegisteredModel,
    Tenant,
)
from shoal.registry.refs import ModelRef
from shoal.registry.service import PRODUCTION
from shoal.runtimes.signature import Signature
from shoal.runtimes.tensors import as_tensors

if TYPE_CHECKING:
    from shoal.client.embedded import EmbeddedBackend
    from shoal.registry.loader import LoadedVersion
    from shoal.settings import Settings
    from shoal.wiring import Services

RefLike = str | ModelRef


def _ref(ref: RefLike) -> ModelRef:
    return ref if isinstance(ref, ModelRef) else ModelRef.parse(ref)


class Client:
    """Register, find, load and promote models; keys, plans and usage.

    Embedded (the stores ``settings`` name)::

        client = Client(Settings(home="/tmp/shoal"))

    Remote (a ``shoal serve`` with an API key; the same methods, records and errors)::

        client = Client(url="http://127.0.0.1:8000", api_key="shoal_...")

    >>> client.create_tenant("acme")                             # doctest: +SKIP
    >>> client.register("acme/churn", model, sample_input=X[:5]) # doctest: +SKIP
    >>> client.set_alias("acme/churn:1", "production")           # doctest: +SKIP
    >>> client.predict("acme/churn", X)                          # doctest: +SKIP

    A remote client predicts through the server's V2 endpoint; ``load`` and ``verify`` need
    the artifacts, so they are embedded only.
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        services: Services | None = None,
        actor: str | None = None,
        url: str | None = None,
        api_key: str | None = None,
        http: httpx.Client | None = None,
        timeout_s: float = 60.0,
    ):
        self._embedded: EmbeddedBackend | None = None
        self._backend: Backend
        if url is not None or http is not None:
            if settings is not None or services is not None or actor is not None:
                raise ValidationError(
                    "a client is embedded (settings, services, actor) or remote (url, api_key), "
                    "not both"
                )
            from shoal.client.remote import HttpBackend

            self._backend = HttpBackend(url, api_key, http=http, timeout_s=timeout_s)
            return
        from shoal.client.embedded import EmbeddedBackend
        from shoal.settings import Settings
        from shoal.wiring import build_services

        built = services or build_services(settings or Settings())
        self._embedded = EmbeddedBackend(built, actor or built.actor)
        self._backend = self._embedded

    @property
    def is_remote(self) -> bool:
        return self._embedded is None

    @property
    def actor(self) -> str:
        """Who changes are recorded as: the embedded actor, or the API key (``key:<id>``) a
        server records."""
        return self._backend.actor

    @property
    def services(self) -> Services:
        """The services behind an embedded client (the server reuses them)."""
        return self._local("services").services

    def _local(self, operation: str) -> EmbeddedBackend:
        if self._embedded is None:
            raise ValidationError(
                f"{operation} needs an embedded client (Client(settings)): it reads the "
                "artifacts directly; a remote client predicts through the server instead"
            )
        return self._embedded

    def close(self) -> None:
        self._backend.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- tenants ---------------------------------------------------------------------------

    def create_tenant(self, name: str, description: str = "") -> Tenant:
        return self._backend.create_tenant(name, description)

    def get_tenant(self, name: str) -> Tenant:
        return self._backend.get_tenant(name)

    def list_tenants(self, limit: int = 100, cursor: str | None = None) -> Page[Tenant]:
        return self._backend.list_tenants(PageRequest(limit, cursor))

    def iter_tenants(self) -> Iterator[Tenant]:
        """Every tenant, page by page."""
        cursor: str | None = None
        while True:
            page = self.list_tenants(limit=1000, cursor=cursor)
            yield from page.items
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    # -- registration ----------------------------------------------------------------------

    def register(
        self,
        ref: RefLike,
        model: object | None = None,
        *,
        path: str | Path | None = None,
        format: str | None = None,
        sample_input: object | None = None,
        signature: Signature | None = None,
        params: Mapping[str, JsonScalar] | None = None,
        metrics: Mapping[str, float] | None = None,
        tags: Mapping[str, str] | None = None,
        description: str = "",
        lineage: Lineage | None = None,
        aliases: Sequence[str] = (),
        approval: ApprovalStatus = ApprovalStatus.PENDING,
        trust: bool = False,
        verify: bool = True,
    ) -> ModelVersion:
        """Register a new immutable version of ``tenant/model`` from an object or a file."""
        request = RegistrationRequest(
            ref=_ref(ref),
            model=model,
            path=Path(path) if path is not None else None,
            format=format,
            sample_input=sample_input,
            signature=signature,
            params=dict(params or {}),
            metrics=dict(metrics or {}),
            tags=dict(tags or {}),
            description=description,
            lineage=lineage or Lineage(),
            aliases=tuple(aliases),
            approval=approval,
            trust=trust,
            verify=verify,
        )
        return self._backend.register_many([request])[0]

    def register_many(self, requests: Sequence[RegistrationRequest]) -> list[ModelVersion]:
        """Register several versions in one metadata transaction."""
        return self._backend.register_many(requests)

    def import_tree(
        self, root: str | Path, trust: bool = False, verify: bool = True, batch_size: int = 500
    ) -> ImportReport:
        """Import ``ROOT/<tenant>/<model>/`` folders; see ``shoal.registry.importer``."""
        return import_tree(
            Path(root),
            self._backend.register_many,
            trust=trust,
            verify=verify,
            batch_size=batch_size,
        )

    # -- reading ---------------------------------------------------------------------------

    def get_model(self, ref: RefLike) -> RegisteredModel:
        return self._backend.get_model(_ref(ref))

    def get_version(self, ref: RefLike) -> ModelVersion:
        """The version ``ref`` names (or the default one: production, latest approved, latest)."""
        return self._backend.get_version(_ref(ref))

    def list_models(
        self,
        tenant: str | None = None,
        prefix: str | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> Page[RegisteredModel]:
        return self._backend.list_models(ModelQuery(tenant, prefix), PageRequest(limit, cursor))

    def iter_models(
        self, tenant: str | None = None, prefix: str | None = None
    ) -> Iterator[RegisteredModel]:
        """Every matching model, page by page."""
        cursor: str | None = None
        while True:
            page = self.list_models(tenant, prefix, limit=1000, cursor=cursor)
            yield from page.items
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    def list_versions(
        self, ref: RefLike, limit: int = 100, cursor: str | None = None
    ) -> Page[ModelVersion]:
        return self._backend.list_versions(_ref(ref), PageRequest(limit, cursor))

    def history(
        self,
        ref: RefLike | None = None,
        tenant: str | None = None,
        alias: str | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> Page[AuditEvent]:
        """Audit events (registrations, alias moves, approvals, deletions), newest first."""
        query = AuditQuery(tenant=tenant, alias=alias)
        if ref is not None:
            parsed = _ref(ref)
            query = AuditQuery(parsed.tenant, parsed.model, alias)
        return self._backend.history(query, PageRequest(limit, cursor))

    # -- using -----------------------------------------------------------------------------

    def load(self, ref: RefLike, trust: bool = False) -> LoadedVersion:
        """Load the version ``ref`` names; ``trust`` allows pickle artifacts for this call."""
        local = self._local("load")
        return local.services.loader.load(self.get_version(ref), trust=trust)

    def verify(self, ref: RefLike, trust: bool = False) -> LoadedVersion:
        """Check the stored artifact against its digest and load it, bypassing the local cache."""
        local = self._local("verify")
        return local.services.loader.verify(self.get_version(ref), trust=trust)

    def predict(self, ref: RefLike, inputs: object) -> dict[str, NDArray[np.generic]]:
        """Predict in one call (an array, a DataFrame or named arrays): loaded here when
        embedded, through the server's V2 infer endpoint when remote."""
        return self._backend.predict(_ref(ref), as_tensors(inputs))

    # -- changes ---------------------------------------------------------------------------

    def set_alias(self, ref: RefLike, alias: str) -> AuditEvent:
        """Point ``alias`` at the version ``ref`` names: promotion."""
        return self._backend.set_alias(_ref(ref), alias)

    def remove_alias(self, ref: RefLike, alias: str) -> AuditEvent:
        return self._backend.remove_alias(_ref(ref), alias)

    def approve(self, ref: RefLike, comment: str = "") -> ModelVersion:
        return self._backend.set_approval(_ref(ref), ApprovalStatus.APPROVED, comment)

    def reject(self, ref: RefLike, comment: str = "") -> ModelVersion:
        return self._backend.set_approval(_ref(ref), ApprovalStatus.REJECTED, comment)

    def rollback(self, ref: RefLike, alias: str = PRODUCTION, to: int | None = None) -> AuditEvent:
        """Move ``alias`` back to its previous version (or to version ``to``)."""
        return self._backend.rollback(_ref(ref), alias, to)

    def delete(self, ref: RefLike) -> list[ModelVersion]:
        """Delete a version (``t/m:3``) or a whole model (``t/m``)."""
        return self._backend.delete(_ref(ref))

    # -- access ----------------------------------------------------------------------------

    def create_key(self, name: str, tenant: str | None = None) -> tuple[ApiKey, str]:
        """A new API key: scoped to ``tenant``, or an admin key when ``tenant`` is None.

        The token (second item) is shown this once; only its hash is stored.
        """
        scope = Scope.ADMIN if tenant is None else Scope.TENANT
        return self._backend.create_key(scope, tenant, name)

    def get_key(self, key_id: str) -> ApiKey:
        return self._backend.get_key(key_id)

    def list_keys(
        self, tenant: str | None = None, limit: int = 100, cursor: str | None = None
    ) -> Page[ApiKey]:
        return self._backend.list_keys(tenant, PageRequest(limit, cursor))

    def revoke_key(self, key_id: str) -> ApiKey:
        """Revoke a key; every server refuses it within ``key_cache_ttl_s`` seconds."""
        return self._backend.revoke_key(key_id)

    def set_plan(
        self,
        subject: str,
        rate_per_s: float,
        burst: int,
        quota_per_day: int | None = None,
        quota_per_month: int | None = None,
    ) -> UsagePlan:
        """Limits for a tenant (or ``key:<id>``): a token bucket and optional quotas."""
        plan = UsagePlan(subject, rate_per_s, burst, quota_per_day, quota_per_month)
        return self._backend.set_plan(plan)

    def get_plan(self, subject: str) -> UsagePlan:
        return self._backend.get_plan(subject)

    def remove_plan(self, subject: str) -> UsagePlan:
        return self._backend.remove_plan(subject)

    def list_plans(self, limit: int = 100, cursor: str | None = None) -> Page[UsagePlan]:
        return self._backend.list_plans(PageRequest(limit, cursor))

    def usage(self, subject: str) -> list[Usage]:
        """Requests counted today and this month, against the plan's quotas."""
        return self._backend.usage(subject)

    def access_history(
        self,
        subject: str | None = None,
        tenant: str | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> Page[AccessEvent]:
        """Who created or revoked which key and set or removed which plan, newest first.

        ``subject`` is ``key:<id>`` or a plan's subject; ``tenant`` a tenant's keys and plan.
        """
        query = AccessEventQuery(subject, tenant)
        return self._backend.access_history(query, PageRequest(limit, cursor))
