"""``HttpBackend``: a client's calls as HTTP requests to a Shoal server's ``/api/v1`` and V2 API.

Answers are decoded into the same records the embedded backend returns (``wire.py``), and
error answers into the same domain errors: the server names the error class in its JSON body
(``{"error": ..., "type": "NotFoundError"}``), and the status decides when it does not.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TypeVar
from urllib.parse import quote

import httpx
import numpy as np
from numpy.typing import NDArray

from shoal import errors
from shoal.access.records import AccessEvent, AccessEventQuery, ApiKey, Scope, Usage, UsagePlan
from shoal.client import wire
from shoal.client.inference import HEADER_LENGTH, decode_response, encode_request, infer_path
from shoal.client.uploads import upload
from shoal.errors import RateLimitedError, RemoteError, ShoalError
from shoal.registry.packager import RegistrationRequest
from shoal.registry.pages import check_page
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
from shoal.runtimes.table import RuntimeTable

T = TypeVar("T")
Params = Mapping[str, str | int | None]

API = "/api/v1"

_BY_STATUS: dict[int, type[ShoalError]] = {
    400: errors.ValidationError,
    401: errors.AuthenticationError,
    403: errors.AccessDeniedError,
    404: errors.NotFoundError,
    409: errors.ConflictError,
    413: errors.PayloadTooLargeError,
    503: errors.CapacityError,
}
_BY_NAME: dict[str, type[ShoalError]] = {
    name: kind
    for name, kind in vars(errors).items()
    if isinstance(kind, type) and issubclass(kind, ShoalError)
}


def error_of(response: httpx.Response) -> ShoalError:
    """The domain error an error answer stands for."""
    try:
        body = response.json()
        message = str(body["error"])
        name = body.get("type")
    except (ValueError, TypeError, KeyError, AttributeError):
        return RemoteError(
            f"{response.request.method} {response.request.url.path} answered "
            f"{response.status_code} without a Shoal error: {response.text[:200]!r}"
        )
    if response.status_code == 429:
        retry = response.headers.get("retry-after", "1")
        seconds = float(retry) if retry.replace(".", "", 1).isdigit() else 1.0
        return RateLimitedError(message, seconds, "", "")
    kind = _BY_NAME.get(str(name)) if name else None
    if kind is not None:
        try:
            return kind(message)
        except TypeError:  # an error class whose constructor needs more than a message
            pass
    return _BY_STATUS.get(response.status_code, ShoalError)(message)


def _segment(value: str) -> str:
    # Names are checked by the server; quoting keeps an odd one from changing the path.
    return quote(value, safe="")


def _model_path(ref: ModelRef) -> str:
    return f"{API}/models/{_segment(ref.tenant)}/{_segment(ref.model)}"


def _version_path(ref: ModelRef) -> str:
    if ref.version is not None:
        return f"{_model_path(ref)}/versions/{ref.version}"
    if ref.alias is not None:
        return f"{_model_path(ref)}/versions/{_segment(ref.alias)}"
    return f"{_model_path(ref)}/default-version"


def _paging(page: PageRequest) -> dict[str, str | int | None]:
    check_page(page)  # here too, so the error reads as the embedded one does
    return {"limit": page.limit, "cursor": page.cursor}


class HttpBackend:
    """A ``Backend`` talking to a server at ``url`` with ``api_key`` (a ``shoal_…`` token).

    ``http`` replaces the connection (an ``httpx.Client`` with its own base URL and transport:
    tests pass the in-process app's).
    """

    def __init__(
        self,
        url: str | None,
        api_key: str | None,
        *,
        http: httpx.Client | None = None,
        timeout_s: float = 60.0,
    ) -> None:
        if http is None and not url:
            raise errors.ValidationError("a remote client needs the server's url")
        self._http = http or httpx.Client(base_url=url or "", timeout=timeout_s)
        self._owns_http = http is None
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._runtimes = RuntimeTable()
        key_id = (api_key or "").removeprefix("shoal_").partition("_")[0]
        self._actor = f"key:{key_id}" if key_id else "anonymous"

    @property
    def actor(self) -> str:
        """The key a server records for this client's changes (``key:<id>``)."""
        return self._actor

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    # -- HTTP ------------------------------------------------------------------------------

    def _send(
        self,
        method: str,
        path: str,
        *,
        json: object = None,
        params: Params | None = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        query = {k: v for k, v in (params or {}).items() if v is not None}
        try:
            response = self._http.request(
                method,
                path,
                json=json,
                params=query,
                content=content,
                headers={**self._headers, **(headers or {})},
            )
        except httpx.HTTPError as exc:
            raise RemoteError(f"{method} {path}: the server could not be reached: {exc}") from exc
        if response.status_code >= 400:
            raise error_of(response)
        return response

    def _call(
        self,
        decode: Callable[[wire.Json], T],
        method: str,
        path: str,
        *,
        json: object = None,
        params: Params | None = None,
    ) -> T:
        response = self._send(method, path, json=json, params=params)
        try:
            document = response.json()
        except ValueError as exc:
            raise RemoteError(f"{method} {path} answered something that is not JSON") from exc
        if isinstance(document, list):  # arrays are decoded like the items of a page
            document = {"items": document}
        return wire.decoded(decode, document, f"answer to {method} {path}")

    # -- tenants ---------------------------------------------------------------------------

    def create_tenant(self, name: str, description: str) -> Tenant:
        body = {"name": name, "description": description}
        return self._call(wire.tenant, "POST", f"{API}/tenants", json=body)

    def get_tenant(self, name: str) -> Tenant:
        return self._call(wire.tenant, "GET", f"{API}/tenants/{_segment(name)}")

    def list_tenants(self, page: PageRequest) -> Page[Tenant]:
        return self._call(wire.page(wire.tenant), "GET", f"{API}/tenants", params=_paging(page))

    # -- registry --------------------------------------------------------------------------

    def register_many(self, requests: Sequence[RegistrationRequest]) -> list[ModelVersion]:
        items = [
            {"tenant": r.ref.tenant, "model": r.ref.model, **upload(r, self._runtimes)}
            for r in requests
        ]
        decode = wire.listing(wire.version)
        return self._call(decode, "POST", f"{API}/registrations", json={"versions": items})

    def get_model(self, ref: ModelRef) -> RegisteredModel:
        return self._call(wire.model, "GET", _model_path(ref))

    def get_version(self, ref: ModelRef) -> ModelVersion:
        return self._call(wire.version, "GET", _version_path(ref))

    def list_models(self, query: ModelQuery, page: PageRequest) -> Page[RegisteredModel]:
        params = {"tenant": query.tenant, "prefix": query.name_prefix, **_paging(page)}
        return self._call(wire.page(wire.model), "GET", f"{API}/models", params=params)

    def list_versions(self, ref: ModelRef, page: PageRequest) -> Page[ModelVersion]:
        path = f"{_model_path(ref)}/versions"
        return self._call(wire.page(wire.version), "GET", path, params=_paging(page))

    def history(self, query: AuditQuery, page: PageRequest) -> Page[AuditEvent]:
        params = {"tenant": query.tenant, "model": query.model, "alias": query.alias}
        decode = wire.page(wire.audit_event)
        return self._call(decode, "GET", f"{API}/history", params={**params, **_paging(page)})

    def set_alias(self, ref: ModelRef, alias: str) -> AuditEvent:
        path = f"{_model_path(ref)}/aliases/{_segment(alias)}"
        body = {"version": ref.version, "alias": ref.alias}
        return self._call(wire.audit_event, "PUT", path, json=body)

    def remove_alias(self, ref: ModelRef, alias: str) -> AuditEvent:
        path = f"{_model_path(ref)}/aliases/{_segment(alias)}"
        return self._call(wire.audit_event, "DELETE", path)

    def set_approval(self, ref: ModelRef, status: ApprovalStatus, comment: str) -> ModelVersion:
        if ref.version is None and ref.alias is None:
            raise errors.ValidationError(f"say which version to review: {ref}:N or {ref}@alias")
        body = {"status": status.value, "comment": comment}
        return self._call(wire.version, "PUT", f"{_version_path(ref)}/approval", json=body)

    def rollback(self, ref: ModelRef, alias: str, to: int | None) -> AuditEvent:
        body = {"alias": alias, "to": to}
        return self._call(wire.audit_event, "POST", f"{_model_path(ref)}/rollback", json=body)

    def delete(self, ref: ModelRef) -> list[ModelVersion]:
        if ref.alias is not None:
            raise errors.ValidationError(f"delete takes t/m or t/m:N, not an alias: {ref}")
        path = _version_path(ref) if ref.version is not None else _model_path(ref)
        return self._call(wire.listing(wire.version), "DELETE", path)

    def predict(self, ref: ModelRef, inputs: Tensors) -> dict[str, NDArray[np.generic]]:
        body, head = encode_request(inputs)
        headers = {HEADER_LENGTH: str(head), "Content-Type": "application/octet-stream"}
        response = self._send("POST", infer_path(ref), content=body, headers=headers)
        return decode_response(response.content, response.headers.get(HEADER_LENGTH))

    # -- access ----------------------------------------------------------------------------

    def create_key(self, scope: Scope, tenant: str | None, name: str) -> tuple[ApiKey, str]:
        body = {"name": name, "scope": Scope(scope).value, "tenant": tenant}
        return self._call(wire.created_key, "POST", f"{API}/keys", json=body)

    def get_key(self, key_id: str) -> ApiKey:
        return self._call(wire.key, "GET", f"{API}/keys/{_segment(key_id)}")

    def list_keys(self, tenant: str | None, page: PageRequest) -> Page[ApiKey]:
        params = {"tenant": tenant, **_paging(page)}
        return self._call(wire.page(wire.key), "GET", f"{API}/keys", params=params)

    def revoke_key(self, key_id: str) -> ApiKey:
        return self._call(wire.key, "POST", f"{API}/keys/{_segment(key_id)}/revoke")

    def set_plan(self, plan: UsagePlan) -> UsagePlan:
        body = {
            "rate_per_s": plan.rate_per_s,
            "burst": plan.burst,
            "quota_per_day": plan.quota_per_day,
            "quota_per_month": plan.quota_per_month,
        }
        return self._call(wire.plan, "PUT", f"{API}/plans/{_segment(plan.subject)}", json=body)

    def get_plan(self, subject: str) -> UsagePlan:
        return self._call(wire.plan, "GET", f"{API}/plans/{_segment(subject)}")

    def remove_plan(self, subject: str) -> UsagePlan:
        return self._call(wire.plan, "DELETE", f"{API}/plans/{_segment(subject)}")

    def list_plans(self, page: PageRequest) -> Page[UsagePlan]:
        return self._call(wire.page(wire.plan), "GET", f"{API}/plans", params=_paging(page))

    def usage(self, subject: str) -> list[Usage]:
        return self._call(wire.listing(wire.usage), "GET", f"{API}/usage/{_segment(subject)}")

    def access_history(self, query: AccessEventQuery, page: PageRequest) -> Page[AccessEvent]:
        params = {"subject": query.subject, "tenant": query.tenant, **_paging(page)}
        decode = wire.page(wire.access_event)
        return self._call(decode, "GET", f"{API}/access/history", params=params)
