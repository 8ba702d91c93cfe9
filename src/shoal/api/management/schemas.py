"""Request and response bodies of the management API, as pydantic models (and so OpenAPI).

Responses are built from the domain records with ``from_attributes``; requests are validated
here first (types, ranges, lengths) and then by the services, whose errors name the value.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from shoal.access.records import AccessAction, Scope, Window
from shoal.registry.records import ApprovalStatus, AuditAction

MAX_INT32 = 2**31 - 1
MAX_INT64 = 2**63 - 1

Text = Annotated[str, Field(max_length=10_000)]
Name = Annotated[str, Field(min_length=1, max_length=64)]
Param = str | int | float | bool | None
FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]
Key = Annotated[str, Field(max_length=256)]


class Strict(BaseModel):
    """Request bodies refuse fields they do not know: a typo is an error, not a no-op."""

    model_config = ConfigDict(extra="forbid")


class Record(BaseModel):
    """Response bodies are read from the records' attributes."""

    model_config = ConfigDict(from_attributes=True)


T = TypeVar("T")


class PageOut(Record, Generic[T]):
    """One page of a listing; pass ``next_cursor`` as ``cursor`` for the next one."""

    items: list[T]
    next_cursor: str | None = None


# -- registry ----------------------------------------------------------------------------


class TenantIn(Strict):
    name: Name
    description: Text = ""


class TenantOut(Record):
    name: str
    description: str
    created_at: datetime
    created_by: str


class ModelOut(Record):
    tenant: str
    name: str
    created_at: datetime
    latest_version: int
    aliases: dict[str, int]


class TensorSpecBody(Record, Strict):
    name: Annotated[str, Field(min_length=1, max_length=256)]
    datatype: Annotated[str, Field(min_length=1, max_length=16)]
    shape: Annotated[list[Annotated[int, Field(ge=-1, le=MAX_INT32)]], Field(max_length=32)]


class SignatureBody(Record, Strict):
    inputs: Annotated[list[TensorSpecBody], Field(max_length=1024)] = []
    outputs: Annotated[list[TensorSpecBody], Field(max_length=1024)] = []


class ArtifactOut(Record):
    digest: str
    size: int


class LineageBody(Record, Strict):
    run_id: Annotated[str | None, Field(max_length=255)] = None
    snapshot_id: Annotated[str | None, Field(max_length=255)] = None


class VersionOut(Record):
    tenant: str
    model: str
    version: int
    format: str
    artifact: ArtifactOut
    signature: SignatureBody
    created_at: datetime
    created_by: str
    params: dict[str, Param]
    metrics: dict[str, float]
    tags: dict[str, str]
    description: str
    lineage: LineageBody
    approval: ApprovalStatus
    aliases: list[str]


class AuditEventOut(Record):
    id: int
    at: datetime
    actor: str
    action: AuditAction
    tenant: str
    model: str | None
    version: int | None
    alias: str | None
    previous_version: int | None
    comment: str


class InputTensor(Strict):
    """A V2 input tensor (JSON data only): a sample to check the model and infer a signature."""

    name: Annotated[str, Field(min_length=1, max_length=256)]
    datatype: Annotated[str, Field(min_length=1, max_length=16)]
    shape: Annotated[list[Annotated[int, Field(ge=0, le=MAX_INT32)]], Field(max_length=32)]
    data: list[object]


class RegistrationIn(Strict):
    """A model file (base64) and its metadata; the server saves, verifies and records it.

    ``file_name`` gives the format by its ending (``.skops``, ``.onnx``, ``.lgb``, ``.ubj``)
    unless ``format`` names it; with ``archive`` the content is an uncompressed tar of a model
    folder (the ``python`` format). Pickle files register only on a server that allows pickle.
    """

    file_name: Annotated[str, Field(min_length=1, max_length=128)]
    content_base64: str
    archive: bool = False
    format: Annotated[str | None, Field(max_length=64)] = None
    sample_input: Annotated[list[InputTensor] | None, Field(max_length=1024)] = None
    signature: SignatureBody | None = None
    params: Annotated[
        dict[Annotated[str, Field(max_length=256)], Param], Field(max_length=1000)
    ] = {}
    metrics: Annotated[dict[Key, FiniteFloat], Field(max_length=1000)] = {}
    tags: Annotated[
        dict[Key, Annotated[str, Field(max_length=4096)]],
        Field(max_length=1000),
    ] = {}
    description: Text = ""
    lineage: LineageBody = LineageBody()
    aliases: Annotated[list[Annotated[str, Field(max_length=32)]], Field(max_length=32)] = []
    approval: ApprovalStatus = ApprovalStatus.PENDING
    verify: bool = True


class BatchRegistrationItem(RegistrationIn):
    tenant: Name
    model: Name


class BatchRegistrationIn(Strict):
    """Several versions recorded in one metadata transaction (all or none)."""

    versions: Annotated[list[BatchRegistrationItem], Field(min_length=1, max_length=1000)]


class AliasTargetIn(Strict):
    """Which version an alias should point at: a number, another alias, or (neither) the
    default version."""

    version: Annotated[int | None, Field(ge=1, le=MAX_INT32)] = None
    alias: Annotated[str | None, Field(max_length=32)] = None


class ApprovalIn(Strict):
    status: ApprovalStatus
    comment: Text = ""


class RollbackIn(Strict):
    alias: Annotated[str, Field(max_length=32)] = "production"
    to: Annotated[int | None, Field(ge=1, le=MAX_INT32)] = None


# -- access ------------------------------------------------------------------------------


class KeyIn(Strict):
    """A new key: ``admin`` (no tenant) or ``tenant`` (with the tenant it may use)."""

    name: Name
    scope: Scope
    tenant: Annotated[str | None, Field(max_length=64)] = None


class KeyOut(Record):
    id: str
    name: str
    scope: Scope
    tenant: str | None
    prefix: str
    created_at: datetime
    created_by: str
    revoked_at: datetime | None
    revoked_by: str | None
    active: bool


class KeyCreatedOut(BaseModel):
    """The new key and its token: shown this once, only its hash is kept."""

    key: KeyOut
    token: str


class PlanIn(Strict):
    """A token bucket (``rate_per_s`` sustained, ``burst`` at once) and optional quotas."""

    rate_per_s: Annotated[float, Field(gt=0, le=1e9, allow_inf_nan=False)]
    burst: Annotated[int, Field(ge=1, le=MAX_INT32)]
    quota_per_day: Annotated[int | None, Field(ge=0, le=MAX_INT64)] = None
    quota_per_month: Annotated[int | None, Field(ge=0, le=MAX_INT64)] = None


class PlanOut(Record):
    subject: str
    rate_per_s: float
    burst: int
    quota_per_day: int | None
    quota_per_month: int | None
    updated_at: datetime | None
    updated_by: str | None


class UsageOut(Record):
    subject: str
    window: Window
    used: int
    limit: int | None
    ratio: float | None
    resets_at: datetime


class AccessEventOut(Record):
    id: int
    at: datetime
    actor: str
    action: AccessAction
    subject: str
    tenant: str | None
    detail: dict[str, Param]
