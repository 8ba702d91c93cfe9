"""One contract for every RegistryStore: in-memory, SQLite and PostgreSQL behave the same."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from shoal.errors import ConflictError, NotFoundError, ValidationError
from shoal.registry.records import (
    ApprovalStatus,
    ArtifactInfo,
    AuditAction,
    AuditQuery,
    Lineage,
    ModelQuery,
    PageRequest,
    VersionDraft,
)
from shoal.registry.store import RegistryStore
from shoal.runtimes.signature import Signature, TensorSpec

AT = datetime(2025, 3, 1, 12, 30, 15, 123456, tzinfo=UTC)
DIGEST = "ab" * 32


def draft(
    model: str = "fraud",
    tenant: str = "acme",
    digest: str = DIGEST,
    approval: ApprovalStatus = ApprovalStatus.PENDING,
) -> VersionDraft:
    return VersionDraft(
        tenant=tenant,
        model=model,
        format="sklearn",
        artifact=ArtifactInfo(digest, 123),
        signature=Signature(
            (TensorSpec("x", "FP32", (-1, 4)),), (TensorSpec("y", "INT64", (-1,)),)
        ),
        created_at=AT,
        created_by="alice",
        approval=approval,
    )


@pytest.fixture
def store(registry_store: RegistryStore) -> RegistryStore:
    registry_store.add_tenant("acme", "Acme Corp", "admin", AT)
    return registry_store


def test_a_tenant_is_created_once_and_a_duplicate_is_a_conflict(store: RegistryStore) -> None:
    tenant = store.find_tenant("acme")
    assert tenant is not None
    assert (tenant.name, tenant.description, tenant.created_by) == ("acme", "Acme Corp", "admin")
    assert tenant.created_at == AT
    with pytest.raises(ConflictError, match="'acme' already exists"):
        store.add_tenant("acme", "again", "admin", AT)
    assert store.find_tenant("nobody") is None


def test_tenants_are_listed_by_name_across_pages(registry_store: RegistryStore) -> None:
    names = [f"t{i:02d}" for i in range(7)]
    for name in reversed(names):
        registry_store.add_tenant(name, "", "admin", AT)
    seen: list[str] = []
    cursor = None
    for _ in range(3):
        page = registry_store.list_tenants(PageRequest(limit=3, cursor=cursor))
        seen.extend(tenant.name for tenant in page.items)
        cursor = page.next_cursor
    assert seen == names
    assert cursor is None


def test_versions_are_numbered_from_one_per_model(store: RegistryStore) -> None:
    first = store.add_versions([draft("fraud"), draft("fraud"), draft("churn")])
    second = store.add_versions([draft("fraud")])
    assert [(v.model, v.version) for v in first + second] == [
        ("fraud", 1),
        ("fraud", 2),
        ("churn", 1),
        ("fraud", 3),
    ]
    model = store.find_model("acme", "fraud")
    assert model is not None
    assert model.latest_version == 3
    assert store.add_versions([]) == []


def test_an_unknown_tenant_records_nothing(store: RegistryStore) -> None:
    with pytest.raises(NotFoundError, match="tenant 'ghost' does not exist"):
        store.add_versions([draft("fraud"), draft("fraud", tenant="ghost")])
    assert store.find_model("acme", "fraud") is None
    events = store.list_audit(AuditQuery(), PageRequest()).items
    assert [event.action for event in events] == [AuditAction.TENANT_CREATED]


def test_json_fields_and_lineage_round_trip_exactly(store: RegistryStore) -> None:
    rich = VersionDraft(
        tenant="acme",
        model="fraud",
        format="onnx",
        artifact=ArtifactInfo(DIGEST, 9_876_543_210),
        signature=Signature((TensorSpec("features", "FP64", (-1, 3)),), ()),
        created_at=AT,
        created_by="alice",
        params={"alpha": 0.1, "depth": 7, "name": "gbm", "flag": True, "none": None},
        metrics={"auc": 0.9312345678901234, "loss": 1e-12},
        tags={"team": "risk", "ünïcode": "✓"},
        description="first try",
        lineage=Lineage(run_id="run-1", snapshot_id="snap-9"),
        approval=ApprovalStatus.APPROVED,
    )
    (added,) = store.add_versions([rich])
    found = store.find_version("acme", "fraud", 1)
    assert found == added
    assert found is not None
    assert dict(found.params) == dict(rich.params)
    assert dict(found.metrics) == dict(rich.metrics)
    assert dict(found.tags) == dict(rich.tags)
    assert found.signature == rich.signature
    assert found.lineage == rich.lineage
    assert found.artifact == rich.artifact


def test_timestamps_come_back_as_aware_utc(store: RegistryStore) -> None:
    local = datetime(2025, 6, 1, 9, 0, 0, 500, tzinfo=timezone(timedelta(hours=5)))
    store.add_tenant("zulu", "", "admin", local)
    store.add_versions(
        [VersionDraft("zulu", "m", "sklearn", ArtifactInfo(DIGEST, 1), Signature(), local, "bob")]
    )
    tenant = store.find_tenant("zulu")
    version = store.find_version("zulu", "m", 1)
    assert tenant is not None
    assert version is not None
    for value in (tenant.created_at, version.created_at):
        assert value == local
        assert value.utcoffset() == timedelta(0)


def test_a_naive_timestamp_is_rejected(store: RegistryStore) -> None:
    with pytest.raises(ValidationError, match="timezone-aware"):
        store.add_tenant("naive", "", "admin", datetime(2025, 1, 1))


def test_find_latest_honours_the_approval_filter(store: RegistryStore) -> None:
    store.add_versions(
        [
            draft(approval=ApprovalStatus.APPROVED),
            draft(approval=ApprovalStatus.APPROVED),
            draft(approval=ApprovalStatus.REJECTED),
        ]
    )
    latest = store.find_latest("acme", "fraud")
    approved = store.find_latest("acme", "fraud", ApprovalStatus.APPROVED)
    assert latest is not None
    assert approved is not None
    assert (latest.version, approved.version) == (3, 2)
    assert store.find_latest("acme", "fraud", ApprovalStatus.PENDING) is None
    assert store.find_latest("acme", "nothing") is None
    assert store.find_version("acme", "fraud", 99) is None


def test_default_versions_follow_the_alias_then_approved_then_pending_a_page_at_a_time(
    store: RegistryStore,
) -> None:
    store.add_tenant("beta", "", "admin", AT)
    approved, rejected = ApprovalStatus.APPROVED, ApprovalStatus.REJECTED
    store.add_versions([draft("aliased"), draft("aliased", approval=approved), draft("aliased")])
    store.set_alias("acme", "aliased", "production", 1, "bob", AT)
    store.set_alias("acme", "aliased", "staging", 1, "bob", AT)
    store.add_versions([draft("approved", approval=approved), draft("approved")] * 2)
    store.add_versions([draft("pending"), draft("pending", approval=rejected), draft("pending")])
    store.add_versions([draft("rejected", approval=rejected)])
    store.add_versions([draft("other", tenant="beta", approval=approved)])
    expected = {
        ("acme", "aliased"): (1, ("production", "staging")),
        ("acme", "approved"): (3, ()),
        ("acme", "pending"): (3, ()),
        ("beta", "other"): (1, ()),
    }
    whole, after = store.default_versions("production", None, 100)
    assert after is None
    assert {(v.tenant, v.model): (v.version, v.aliases) for v in whole} == expected
    one = whole[0]
    again = store.find_version(one.tenant, one.model, one.version)
    assert one == again  # every field, as a lookup of that version reads it
    paged: list[tuple[str, str]] = []
    after = None
    while True:
        page, after = store.default_versions("production", after, 2)
        paged += [(v.tenant, v.model) for v in page]
        if after is None:
            break
    assert paged == sorted(expected)  # "rejected" has nothing to serve: left out
    assert store.default_versions("production", ("beta", "other"), 2) == ([], None)


def test_an_alias_move_records_the_previous_version(store: RegistryStore) -> None:
    store.add_versions([draft(), draft(), draft()])
    first = store.set_alias("acme", "fraud", "production", 1, "bob", AT)
    moved = store.set_alias("acme", "fraud", "production", 3, "bob", AT)
    back = store.set_alias(
        "acme", "fraud", "production", 1, "bob", AT, AuditAction.ALIAS_ROLLED_BACK
    )
    assert (first.previous_version, first.version) == (None, 1)
    assert (moved.previous_version, moved.version) == (1, 3)
    assert (back.action, back.previous_version, back.version) == (
        AuditAction.ALIAS_ROLLED_BACK,
        3,
        1,
    )
    aliased = store.find_aliased("acme", "fraud", "production")
    assert aliased is not None
    assert (aliased.version, aliased.aliases) == (1, ("production",))
    assert store.find_aliased("acme", "fraud", "staging") is None


def test_aliases_are_filled_on_read(store: RegistryStore) -> None:
    store.add_versions([draft(), draft()])
    store.set_alias("acme", "fraud", "staging", 2, "bob", AT)
    store.set_alias("acme", "fraud", "canary", 2, "bob", AT)
    store.set_alias("acme", "fraud", "production", 1, "bob", AT)
    version = store.find_version("acme", "fraud", 2)
    model = store.find_model("acme", "fraud")
    assert version is not None
    assert model is not None
    assert version.aliases == ("canary", "staging")
    assert dict(model.aliases) == {"canary": 2, "production": 1, "staging": 2}
    listed = store.list_versions("acme", "fraud", PageRequest()).items
    assert [(v.version, v.aliases) for v in listed] == [
        (2, ("canary", "staging")),
        (1, ("production",)),
    ]


def test_alias_changes_name_what_is_missing(store: RegistryStore) -> None:
    store.add_versions([draft()])
    with pytest.raises(NotFoundError, match="version 'acme/fraud:5' does not exist"):
        store.set_alias("acme", "fraud", "production", 5, "bob", AT)
    with pytest.raises(NotFoundError, match="model 'acme/ghost' does not exist"):
        store.set_alias("acme", "ghost", "production", 1, "bob", AT)
    with pytest.raises(NotFoundError, match="tenant 'ghost' does not exist"):
        store.set_alias("ghost", "fraud", "production", 1, "bob", AT)
    with pytest.raises(NotFoundError, match="alias 'production'"):
        store.remove_alias("acme", "fraud", "production", "bob", AT)
    with pytest.raises(ValidationError, match="alias moves"):
        store.set_alias("acme", "fraud", "production", 1, "bob", AT, AuditAction.MODEL_DELETED)


def test_removing_an_alias_records_where_it_pointed(store: RegistryStore) -> None:
    store.add_versions([draft()])
    store.set_alias("acme", "fraud", "production", 1, "bob", AT)
    event = store.remove_alias("acme", "fraud", "production", "bob", AT)
    assert (event.action, event.alias, event.previous_version) == (
        AuditAction.ALIAS_REMOVED,
        "production",
        1,
    )
    assert store.find_aliased("acme", "fraud", "production") is None


def test_a_version_an_alias_points_at_cannot_be_removed(store: RegistryStore) -> None:
    store.add_versions([draft(), draft()])
    store.set_alias("acme", "fraud", "production", 2, "bob", AT)
    with pytest.raises(ConflictError, match="alias 'production'"):
        store.remove_version("acme", "fraud", 2, "bob", AT)
    removed = store.remove_version("acme", "fraud", 1, "bob", AT)
    assert removed.version == 1
    assert store.find_version("acme", "fraud", 1) is None
    with pytest.raises(NotFoundError, match="version 'acme/fraud:1' does not exist"):
        store.remove_version("acme", "fraud", 1, "bob", AT)
    # Numbers are never reused, even after the highest version was deleted.
    store.remove_alias("acme", "fraud", "production", "bob", AT)
    store.remove_version("acme", "fraud", 2, "bob", AT)
    assert store.add_versions([draft()])[0].version == 3


def test_set_approval_changes_the_version_and_keeps_the_comment(store: RegistryStore) -> None:
    store.add_versions([draft()])
    updated = store.set_approval(
        "acme", "fraud", 1, ApprovalStatus.APPROVED, "carol", AT, comment="looks good"
    )
    assert updated.approval == ApprovalStatus.APPROVED
    found = store.find_version("acme", "fraud", 1)
    assert found is not None
    assert found.approval == ApprovalStatus.APPROVED
    event = store.list_audit(AuditQuery(tenant="acme"), PageRequest(limit=1)).items[0]
    assert (event.action, event.actor, event.version, event.comment) == (
        AuditAction.APPROVAL_SET,
        "carol",
        1,
        "looks good",
    )
    with pytest.raises(NotFoundError, match="acme/fraud:9"):
        store.set_approval("acme", "fraud", 9, ApprovalStatus.APPROVED, "carol", AT)


def test_removing_a_model_removes_its_versions_and_aliases(store: RegistryStore) -> None:
    store.add_versions([draft(), draft(), draft("churn")])
    store.set_alias("acme", "fraud", "production", 2, "bob", AT)
    removed = store.remove_model("acme", "fraud", "bob", AT)
    assert [(v.version, v.aliases) for v in removed] == [(1, ()), (2, ("production",))]
    assert store.find_model("acme", "fraud") is None
    assert store.find_aliased("acme", "fraud", "production") is None
    assert store.find_model("acme", "churn") is not None
    with pytest.raises(NotFoundError, match="model 'acme/fraud' does not exist"):
        store.list_versions("acme", "fraud", PageRequest())
    assert store.add_versions([draft()])[0].version == 1


def test_models_are_paged_by_tenant_and_name_without_gaps(store: RegistryStore) -> None:
    store.add_tenant("beta", "", "admin", AT)
    names = [f"m-{i:02d}" for i in range(25)]
    store.add_versions([draft(name) for name in reversed(names)])
    store.add_versions([draft("m-00", tenant="beta"), draft("other", tenant="beta")])
    pages = []
    cursor = None
    while True:
        page = store.list_models(ModelQuery(tenant="acme"), PageRequest(limit=10, cursor=cursor))
        pages.append([model.name for model in page.items])
        cursor = page.next_cursor
        if cursor is None:
            break
    assert [len(page) for page in pages] == [10, 10, 5]
    assert [name for page in pages for name in page] == names
    everything = store.list_models(ModelQuery(), PageRequest(limit=1000)).items
    assert [(m.tenant, m.name) for m in everything] == [("acme", n) for n in names] + [
        ("beta", "m-00"),
        ("beta", "other"),
    ]
    across = store.list_models(ModelQuery(), PageRequest(limit=26))
    rest = store.list_models(ModelQuery(), PageRequest(limit=26, cursor=across.next_cursor))
    assert [(m.tenant, m.name) for m in rest.items] == [("beta", "other")]
    assert rest.next_cursor is None


def test_models_can_be_filtered_by_name_prefix(store: RegistryStore) -> None:
    store.add_versions([draft(name) for name in ("fraud", "fraud_v2", "fraudx", "frog", "a_fraud")])
    found = store.list_models(ModelQuery(tenant="acme", name_prefix="fraud"), PageRequest(limit=2))
    more = store.list_models(
        ModelQuery(tenant="acme", name_prefix="fraud"),
        PageRequest(limit=2, cursor=found.next_cursor),
    )
    assert [m.name for m in found.items + more.items] == ["fraud", "fraud_v2", "fraudx"]
    assert more.next_cursor is None
    with pytest.raises(NotFoundError, match="tenant 'ghost'"):
        store.list_models(ModelQuery(tenant="ghost"), PageRequest())


def test_versions_are_listed_newest_first_across_pages(store: RegistryStore) -> None:
    store.add_versions([draft() for _ in range(7)])
    first = store.list_versions("acme", "fraud", PageRequest(limit=4))
    second = store.list_versions("acme", "fraud", PageRequest(limit=4, cursor=first.next_cursor))
    assert [v.version for v in first.items + second.items] == [7, 6, 5, 4, 3, 2, 1]
    assert second.next_cursor is None


def test_a_bad_page_request_is_rejected(store: RegistryStore) -> None:
    with pytest.raises(ValidationError):
        store.list_tenants(PageRequest(limit=0))
    with pytest.raises(ValidationError):
        store.list_tenants(PageRequest(cursor="not a cursor!"))
    store.add_versions([draft(), draft()])
    store.add_tenant("zeta", "", "admin", AT)
    tenant_cursor = store.list_tenants(PageRequest(limit=1)).next_cursor
    assert tenant_cursor is not None
    with pytest.raises(ValidationError, match="does not belong"):
        store.list_versions("acme", "fraud", PageRequest(cursor=tenant_cursor))


def test_the_audit_log_is_newest_first_and_filtered(store: RegistryStore) -> None:
    store.add_tenant("beta", "", "admin", AT)
    store.add_versions([draft(), draft("churn"), draft("fraud", tenant="beta")])
    store.set_alias("acme", "fraud", "production", 1, "bob", AT)
    store.set_alias("acme", "churn", "production", 1, "bob", AT)
    everything = store.list_audit(AuditQuery(), PageRequest()).items
    ids = [event.id for event in everything]
    assert ids == sorted(ids, reverse=True)
    assert [event.action for event in everything] == [
        AuditAction.ALIAS_SET,
        AuditAction.ALIAS_SET,
        AuditAction.VERSION_REGISTERED,
        AuditAction.VERSION_REGISTERED,
        AuditAction.VERSION_REGISTERED,
        AuditAction.TENANT_CREATED,
        AuditAction.TENANT_CREATED,
    ]
    acme_fraud = store.list_audit(AuditQuery(tenant="acme", model="fraud"), PageRequest()).items
    assert [(e.action, e.version) for e in acme_fraud] == [
        (AuditAction.ALIAS_SET, 1),
        (AuditAction.VERSION_REGISTERED, 1),
    ]
    aliased = store.list_audit(AuditQuery(alias="production"), PageRequest()).items
    assert [e.model for e in aliased] == ["churn", "fraud"]
    first = store.list_audit(AuditQuery(), PageRequest(limit=4))
    rest = store.list_audit(AuditQuery(), PageRequest(limit=4, cursor=first.next_cursor))
    assert [e.id for e in first.items + rest.items] == ids
    assert rest.next_cursor is None


def test_every_change_is_audited_with_its_actor(store: RegistryStore) -> None:
    store.add_versions([draft(), draft()])
    store.set_alias("acme", "fraud", "production", 2, "bob", AT)
    store.remove_version("acme", "fraud", 1, "dave", AT)
    store.remove_model("acme", "fraud", "erin", AT)
    events = store.list_audit(AuditQuery(tenant="acme"), PageRequest()).items
    assert [(e.action, e.actor, e.model, e.version) for e in events] == [
        (AuditAction.MODEL_DELETED, "erin", "fraud", None),
        (AuditAction.VERSION_DELETED, "dave", "fraud", 1),
        (AuditAction.ALIAS_SET, "bob", "fraud", 2),
        (AuditAction.VERSION_REGISTERED, "alice", "fraud", 2),
        (AuditAction.VERSION_REGISTERED, "alice", "fraud", 1),
        (AuditAction.TENANT_CREATED, "admin", None, None),
    ]
    assert all(event.at == AT for event in events)


def test_artifact_references_are_counted_across_tenants(store: RegistryStore) -> None:
    other = "cd" * 32
    store.add_tenant("beta", "", "admin", AT)
    store.add_versions([draft(), draft("churn"), draft(tenant="beta"), draft(digest=other)])
    assert store.count_artifact_refs(DIGEST) == 3
    assert store.count_artifact_refs(other) == 1
    store.remove_model("acme", "churn", "bob", AT)
    assert store.count_artifact_refs(DIGEST) == 2
    assert store.count_artifact_refs("ef" * 32) == 0


def test_changes_since_names_the_models_changed_after_an_event(store: RegistryStore) -> None:
    store.add_versions([draft("fraud"), draft("churn")])
    start, nothing = store.changes_since(-1)
    assert nothing == set()
    assert store.changes_since(start) == (start, set())
    store.set_alias("acme", "fraud", "production", 1, "bob", AT)
    store.set_approval("acme", "churn", 1, ApprovalStatus.APPROVED, "bob", AT)
    newest, changed = store.changes_since(start)
    assert newest > start
    assert changed == {("acme", "fraud"), ("acme", "churn")}
    assert store.changes_since(newest) == (newest, set())
