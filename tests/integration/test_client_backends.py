"""One behaviour suite over both client backends: embedded, and remote through the HTTP API.

The remote client talks to the in-process app (the same routes, codecs and error mapping as a
real server, without a socket); ``tests/e2e/test_remote_client.py`` repeats the essentials
against a real server on 127.0.0.1.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from numpy.typing import NDArray

from shoal.access.records import AccessAction, Scope, Window
from shoal.api.management import Management
from shoal.client import Client
from shoal.errors import (
    AccessDeniedError,
    ConflictError,
    InvalidNameError,
    NotFoundError,
    UnsupportedModelError,
    ValidationError,
)
from shoal.registry.records import ApprovalStatus, AuditAction
from shoal.server import ServerConfig, create_app
from shoal.settings import Settings
from shoal.wiring import build_inference, build_services
from tests.integration.conftest import fit_classifier

ENCODER_DIR = Path(__file__).parents[1] / "unit" / "runtimes"


@pytest.fixture(params=["embedded", "remote"])
def shoal(request: pytest.FixtureRequest, settings: Settings) -> Iterator[Client]:
    """A client with tenant ``acme``: embedded, or remote with an admin key."""
    fresh = settings.model_copy(update={"key_cache_ttl_s": 0.0, "resolve_ttl_s": 0.0})
    with Client(services=build_services(fresh), actor="tester") as local:
        local.create_tenant("acme")
        if request.param == "embedded":
            yield local
            return
        _, token = local.create_key("ops")
        services = local.services
        manage = Management(services.registry, services.access, services.actor)
        app = create_app(build_inference(fresh, services), ServerConfig(), services.access, manage)
        with TestClient(app) as http, Client(http=http, api_key=token) as remote:
            yield remote


def test_a_registered_model_predicts_like_the_original(
    shoal: Client, features: NDArray[np.float64]
) -> None:
    model = fit_classifier(features)
    version = shoal.register(
        "acme/churn", model, sample_input=features[:5], metrics={"auc": 0.9}, params={"C": 1.0}
    )
    assert (version.ref, version.format, version.metrics, version.params) == (
        "acme/churn:1",
        "sklearn",
        {"auc": 0.9},
        {"C": 1.0},
    )
    assert version.tags["fast_path"] == "compact"  # an upload gets the verified fast path too
    outputs = shoal.predict("acme/churn:1", features)
    np.testing.assert_array_equal(outputs["label"], model.predict(features))
    np.testing.assert_allclose(outputs["probabilities"], model.predict_proba(features), atol=1e-9)
    assert shoal.get_version("acme/churn") == version


def test_versions_aliases_approvals_and_rollback_behave_alike(
    shoal: Client, features: NDArray[np.float64]
) -> None:
    for seed in range(3):
        version = shoal.register("acme/churn", fit_classifier(features, seed))
        shoal.set_alias(version.ref, "production")
    assert [v.version for v in shoal.list_versions("acme/churn").items] == [3, 2, 1]
    assert shoal.get_model("acme/churn").aliases == {"production": 3}
    event = shoal.rollback("acme/churn")
    assert (event.action, event.version, event.previous_version) == (
        AuditAction.ALIAS_ROLLED_BACK,
        2,
        3,
    )
    moved = shoal.set_alias("acme/churn@production", "staging")
    assert (moved.alias, moved.version) == ("staging", 2)
    assert shoal.approve("acme/churn:1", comment="ok").approval is ApprovalStatus.APPROVED
    assert shoal.reject("acme/churn@staging").approval is ApprovalStatus.REJECTED
    assert shoal.remove_alias("acme/churn", "staging").action is AuditAction.ALIAS_REMOVED
    history = shoal.history("acme/churn", limit=2)
    assert [e.action for e in history.items] == [
        AuditAction.ALIAS_REMOVED,
        AuditAction.APPROVAL_SET,
    ]
    rest = shoal.history("acme/churn", cursor=history.next_cursor)
    assert rest.items[-1].action is AuditAction.VERSION_REGISTERED
    assert len(shoal.history(tenant="acme").items) == len(history.items) + len(rest.items) + 1


def test_deleting_returns_what_was_removed(shoal: Client, features: NDArray[np.float64]) -> None:
    for seed in range(2):
        shoal.register("acme/churn", fit_classifier(features, seed))
    assert [v.version for v in shoal.delete("acme/churn:1")] == [1]
    assert [v.version for v in shoal.delete("acme/churn")] == [2]
    with pytest.raises(NotFoundError, match=r"model acme/churn does not exist"):
        shoal.get_model("acme/churn")


def test_domain_errors_are_the_same_classes_with_the_same_messages(
    shoal: Client, features: NDArray[np.float64], tmp_path: Path
) -> None:
    with pytest.raises(NotFoundError, match="model acme/nope does not exist"):
        shoal.get_version("acme/nope")
    with pytest.raises(NotFoundError, match="tenant 'ghost' does not exist"):
        shoal.get_tenant("ghost")
    with pytest.raises(ConflictError, match="tenant 'acme' already exists"):
        shoal.create_tenant("acme")
    with pytest.raises(InvalidNameError, match="upper-case"):
        shoal.create_tenant("Acme")
    (tmp_path / "model.bin").write_bytes(b"not a model")
    with pytest.raises(UnsupportedModelError, match="cannot tell the model format"):
        shoal.register("acme/churn", path=tmp_path / "model.bin")
    shoal.register("acme/churn", fit_classifier(features))
    with pytest.raises(ValidationError, match="say which version to review"):
        shoal.approve("acme/churn")
    shoal.set_alias("acme/churn:1", "production")
    with pytest.raises(ConflictError, match="no earlier version to roll back to"):
        shoal.rollback("acme/churn")


def test_tenants_are_listed_a_page_at_a_time(shoal: Client) -> None:
    for name in ("globex", "initech", "umbrella"):
        shoal.create_tenant(name, description=f"{name} inc")
    first = shoal.list_tenants(limit=2)
    second = shoal.list_tenants(limit=2, cursor=first.next_cursor)
    assert [t.name for t in first.items + second.items] == ["acme", "globex", "initech", "umbrella"]
    assert second.next_cursor is None
    assert [t.name for t in shoal.iter_tenants()] == ["acme", "globex", "initech", "umbrella"]
    assert shoal.get_tenant("globex").description == "globex inc"
    with pytest.raises(ValidationError, match="page limit"):
        shoal.list_tenants(limit=0)


def test_model_files_and_python_folders_register_from_paths(
    shoal: Client, features: NDArray[np.float64], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import skops.io

    skops.io.dump(fit_classifier(features), tmp_path / "churn.skops")
    version = shoal.register("acme/churn", path=tmp_path / "churn.skops", tags={"src": "file"})
    assert (version.format, version.tags) == ("sklearn", {"src": "file"})
    monkeypatch.syspath_prepend(str(ENCODER_DIR))
    encoder = __import__("encoder_model").CategoryEncoder(["red", "green"])
    categories = np.array(["green", "blue", "red"], dtype=object)
    registered = shoal.register("acme/colours", encoder, sample_input={"category": categories})
    assert (registered.format, registered.signature.inputs[0].datatype) == ("python", "BYTES")
    assert shoal.get_version("acme/colours") == registered
    sys.modules.pop("encoder_model", None)


def test_keys_plans_usage_and_their_audit_log(shoal: Client) -> None:
    key, token = shoal.create_key("ci", tenant="acme")
    assert (key.scope, key.tenant, token.startswith(key.prefix)) == (Scope.TENANT, "acme", True)
    assert shoal.get_key(key.id) == key
    assert key in shoal.list_keys(tenant="acme").items
    revoked = shoal.revoke_key(key.id)
    assert revoked.revoked_at is not None
    with pytest.raises(ConflictError, match="already revoked"):
        shoal.revoke_key(key.id)
    plan = shoal.set_plan("acme", rate_per_s=5.0, burst=10, quota_per_day=1000)
    assert shoal.get_plan("acme") == plan
    assert shoal.list_plans().items == (plan,)
    day, month = shoal.usage("acme")
    assert (day.window, day.used, day.limit, day.ratio) == (Window.DAY, 0, 1000, 0.0)
    assert (month.window, month.limit, month.ratio) == (Window.MONTH, None, None)
    assert shoal.remove_plan("acme").burst == 10
    with pytest.raises(NotFoundError, match="no usage plan for 'acme'"):
        shoal.get_plan("acme")
    events = shoal.access_history(tenant="acme").items
    assert [e.action for e in events] == [
        AccessAction.PLAN_REMOVED,
        AccessAction.PLAN_SET,
        AccessAction.KEY_REVOKED,
        AccessAction.KEY_CREATED,
    ]
    assert {e.actor for e in events} == {shoal.actor}
    assert events[1].detail == {
        "rate_per_s": 5.0,
        "burst": 10,
        "quota_per_day": 1000,
        "quota_per_month": None,
    }
    assert [e.action for e in shoal.access_history(subject=f"key:{key.id}").items] == [
        AccessAction.KEY_REVOKED,
        AccessAction.KEY_CREATED,
    ]


def test_a_remote_client_reads_the_same_records_the_embedded_one_wrote(
    settings: Settings, features: NDArray[np.float64]
) -> None:
    with Client(settings, actor="tester") as local:
        local.create_tenant("acme")
        version = local.register("acme/churn", fit_classifier(features), sample_input=features[:4])
        local.set_alias(version.ref, "production")
        key, token = local.create_key("ops")
        local.set_plan("acme", 1.0, 5)
        services = local.services
        manage = Management(services.registry, services.access, services.actor)
        app = create_app(
            build_inference(settings, services), ServerConfig(), services.access, manage
        )
        with TestClient(app) as http, Client(http=http, api_key=token) as remote:
            assert remote.get_version("acme/churn@production") == local.get_version("acme/churn:1")
            assert remote.get_model("acme/churn") == local.get_model("acme/churn")
            assert remote.list_models() == local.list_models()
            assert remote.history(tenant="acme") == local.history(tenant="acme")
            assert remote.list_keys() == local.list_keys()
            assert remote.get_plan("acme") == local.get_plan("acme")
            assert remote.access_history() == local.access_history()
            assert remote.actor == f"key:{key.id}"
            with pytest.raises(ValidationError, match="needs an embedded client"):
                remote.load("acme/churn")


def test_a_tenant_key_is_refused_writes_and_sees_only_its_tenant(
    settings: Settings, features: NDArray[np.float64]
) -> None:
    with Client(settings, actor="tester") as local:
        for tenant in ("acme", "globex"):
            local.create_tenant(tenant)
            local.register(f"{tenant}/churn", fit_classifier(features), sample_input=features[:4])
        _, token = local.create_key("ci", tenant="acme")
        services = local.services
        manage = Management(services.registry, services.access, services.actor)
        app = create_app(
            build_inference(settings, services), ServerConfig(), services.access, manage
        )
        with TestClient(app) as http, Client(http=http, api_key=token) as remote:
            assert [m.tenant for m in remote.list_models().items] == ["acme"]
            assert remote.predict("acme/churn", features[:2])["label"].shape == (2,)
            with pytest.raises(NotFoundError, match="model globex/churn does not exist"):
                remote.get_model("globex/churn")
            with pytest.raises(NotFoundError, match="model globex/churn does not exist"):
                remote.predict("globex/churn", features[:2])
            with pytest.raises(AccessDeniedError, match="needs an admin key"):
                remote.set_alias("acme/churn:1", "production")
