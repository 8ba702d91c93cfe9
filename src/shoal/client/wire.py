"""The management API's JSON as records: what ``remote.py`` receives, decoded exactly once.

The server builds this JSON from the same records (``shoal.api.management.schemas``); the
shared behaviour tests compare what both backends return, so the two sides cannot drift.
A malformed document raises ``RemoteError``: it did not come from a Shoal server.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TypeVar, cast

from shoal.access.records import (
    AccessAction,
    AccessEvent,
    ApiKey,
    Scope,
    Usage,
    UsagePlan,
    Window,
)
from shoal.errors import RemoteError
from shoal.registry.records import (
    ApprovalStatus,
    ArtifactInfo,
    AuditAction,
    AuditEvent,
    JsonScalar,
    Lineage,
    ModelVersion,
    Page,
    RegisteredModel,
    Tenant,
)
from shoal.runtimes.signature import Signature, TensorSpec

T = TypeVar("T")
Json = Mapping[str, object]


def _at(value: object) -> datetime:
    return datetime.fromisoformat(str(value))


def _maybe_at(value: object) -> datetime | None:
    return None if value is None else _at(value)


def _int(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"expected an integer, got {value!r}")
    return value


def _maybe_int(value: object) -> int | None:
    return None if value is None else _int(value)


def _maybe_str(value: object) -> str | None:
    return None if value is None else str(value)


def _object(value: object) -> Json:
    if not isinstance(value, Mapping):
        raise TypeError(f"expected a JSON object, got {type(value).__name__}")
    return cast(Json, value)


def decoded(decode: Callable[[Json], T], document: object, what: str) -> T:
    """``decode(document)``, or ``RemoteError`` naming ``what`` when it does not fit."""
    try:
        return decode(_object(document))
    except (KeyError, TypeError, ValueError) as exc:
        raise RemoteError(f"the server's {what} is not what Shoal sends: {exc!r}") from exc


def page(decode: Callable[[Json], T]) -> Callable[[Json], Page[T]]:
    def decode_page(raw: Json) -> Page[T]:
        items = raw["items"]
        if not isinstance(items, list):
            raise TypeError("items is not a list")
        return Page(tuple(decode(_object(item)) for item in items), _maybe_str(raw["next_cursor"]))

    return decode_page


def listing(decode: Callable[[Json], T]) -> Callable[[Json], list[T]]:
    """Decodes ``{"items": [...]}`` wrappers made by ``remote.py`` around JSON arrays."""

    def decode_list(raw: Json) -> list[T]:
        items = raw["items"]
        if not isinstance(items, list):
            raise TypeError("items is not a list")
        return [decode(_object(item)) for item in items]

    return decode_list


def tenant(raw: Json) -> Tenant:
    return Tenant(
        str(raw["name"]), str(raw["description"]), _at(raw["created_at"]), str(raw["created_by"])
    )


def model(raw: Json) -> RegisteredModel:
    aliases = {str(k): _int(v) for k, v in _object(raw["aliases"]).items()}
    return RegisteredModel(
        tenant=str(raw["tenant"]),
        name=str(raw["name"]),
        created_at=_at(raw["created_at"]),
        latest_version=_int(raw["latest_version"]),
        aliases=aliases,
    )


def _specs(raw: object) -> tuple[TensorSpec, ...]:
    if not isinstance(raw, list):
        raise TypeError("tensor specs are not a list")
    return tuple(TensorSpec.from_dict(_object(spec)) for spec in raw)


def signature(raw: Json) -> Signature:
    return Signature(_specs(raw["inputs"]), _specs(raw["outputs"]))


def _scalar(value: object) -> JsonScalar:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise TypeError(f"expected a JSON scalar, got {value!r}")


def version(raw: Json) -> ModelVersion:
    artifact = _object(raw["artifact"])
    lineage = _object(raw["lineage"])
    aliases = raw["aliases"]
    if not isinstance(aliases, list):
        raise TypeError("aliases is not a list")
    return ModelVersion(
        tenant=str(raw["tenant"]),
        model=str(raw["model"]),
        version=_int(raw["version"]),
        format=str(raw["format"]),
        artifact=ArtifactInfo(str(artifact["digest"]), _int(artifact["size"])),
        signature=signature(_object(raw["signature"])),
        created_at=_at(raw["created_at"]),
        created_by=str(raw["created_by"]),
        params={str(k): _scalar(v) for k, v in _object(raw["params"]).items()},
        metrics={str(k): float(cast(float, v)) for k, v in _object(raw["metrics"]).items()},
        tags={str(k): str(v) for k, v in _object(raw["tags"]).items()},
        description=str(raw["description"]),
        lineage=Lineage(_maybe_str(lineage["run_id"]), _maybe_str(lineage["snapshot_id"])),
        approval=ApprovalStatus(str(raw["approval"])),
        aliases=tuple(str(alias) for alias in aliases),
    )


def audit_event(raw: Json) -> AuditEvent:
    return AuditEvent(
        id=_int(raw["id"]),
        at=_at(raw["at"]),
        actor=str(raw["actor"]),
        action=AuditAction(str(raw["action"])),
        tenant=str(raw["tenant"]),
        model=_maybe_str(raw["model"]),
        version=_maybe_int(raw["version"]),
        alias=_maybe_str(raw["alias"]),
        previous_version=_maybe_int(raw["previous_version"]),
        comment=str(raw["comment"]),
    )


def key(raw: Json) -> ApiKey:
    return ApiKey(
        id=str(raw["id"]),
        name=str(raw["name"]),
        scope=Scope(str(raw["scope"])),
        tenant=_maybe_str(raw["tenant"]),
        prefix=str(raw["prefix"]),
        created_at=_at(raw["created_at"]),
        created_by=str(raw["created_by"]),
        revoked_at=_maybe_at(raw["revoked_at"]),
        revoked_by=_maybe_str(raw["revoked_by"]),
    )


def created_key(raw: Json) -> tuple[ApiKey, str]:
    return key(_object(raw["key"])), str(raw["token"])


def plan(raw: Json) -> UsagePlan:
    return UsagePlan(
        subject=str(raw["subject"]),
        rate_per_s=float(cast(float, raw["rate_per_s"])),
        burst=_int(raw["burst"]),
        quota_per_day=_maybe_int(raw["quota_per_day"]),
        quota_per_month=_maybe_int(raw["quota_per_month"]),
        updated_at=_maybe_at(raw["updated_at"]),
        updated_by=_maybe_str(raw["updated_by"]),
    )


def usage(raw: Json) -> Usage:
    return Usage(
        subject=str(raw["subject"]),
        window=Window(str(raw["window"])),
        used=_int(raw["used"]),
        limit=_maybe_int(raw["limit"]),
        resets_at=_at(raw["resets_at"]),
    )


def access_event(raw: Json) -> AccessEvent:
    return AccessEvent(
        id=_int(raw["id"]),
        at=_at(raw["at"]),
        actor=str(raw["actor"]),
        action=AccessAction(str(raw["action"])),
        subject=str(raw["subject"]),
        tenant=_maybe_str(raw["tenant"]),
        detail={str(k): _scalar(v) for k, v in _object(raw["detail"]).items()},
    )
