"""API keys and usage plans on the V2 endpoint: 401, tenant isolation (404), 403, 429."""

from collections.abc import Iterator

import numpy as np
import pytest
from fastapi.testclient import TestClient
from numpy.typing import NDArray

from shoal.client import Client
from shoal.server import ServerConfig, create_app
from shoal.settings import Settings
from shoal.wiring import build_inference, build_services
from tests.integration.conftest import fit_classifier
from tests.integration.test_inference_api import infer_body


@pytest.fixture
def keyed(settings: Settings, features: NDArray[np.float64]) -> Iterator[tuple[TestClient, Client]]:
    fresh = settings.model_copy(update={"key_cache_ttl_s": 0.0})
    with Client(services=build_services(fresh), actor="admin") as shoal:
        for tenant in ("acme", "globex"):
            shoal.create_tenant(tenant)
            shoal.register(f"{tenant}/churn", fit_classifier(features), sample_input=features[:4])
        inference = build_inference(fresh, shoal.services)
        app = create_app(inference, ServerConfig(), access=shoal.services.access)
        with TestClient(app) as api:
            yield api, shoal


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_a_request_without_a_valid_key_is_401(
    keyed: tuple[TestClient, Client], features: NDArray[np.float64]
) -> None:
    api, _ = keyed
    missing = api.post("/v2/models/acme/churn/infer", json=infer_body(features[:1]))
    assert missing.status_code == 401
    assert "API key is required" in missing.json()["error"]
    assert missing.headers["www-authenticate"].startswith("Bearer")
    forged = api.post(
        "/v2/models/acme/churn/infer",
        json=infer_body(features[:1]),
        headers=bearer("shoal_0123456789abcdef_" + "x" * 43),
    )
    assert forged.status_code == 401
    assert api.get("/v2/models/acme/churn").status_code == 401
    assert api.get("/v2/health/live").status_code == 200  # probes need no key


def test_a_tenant_key_sees_only_its_own_models(
    keyed: tuple[TestClient, Client], features: NDArray[np.float64]
) -> None:
    api, shoal = keyed
    _, token = shoal.create_key("ci", tenant="acme")
    own = api.post(
        "/v2/models/acme/churn/infer", json=infer_body(features[:1]), headers=bearer(token)
    )
    assert own.status_code == 200, own.text
    other = api.post(
        "/v2/models/globex/churn/infer", json=infer_body(features[:1]), headers=bearer(token)
    )
    missing = api.post(
        "/v2/models/acme/nope/infer", json=infer_body(features[:1]), headers=bearer(token)
    )
    assert other.status_code == missing.status_code == 404
    assert other.json()["error"] == "model globex/churn does not exist"
    assert api.get("/v2/models/globex/churn", headers={"X-API-Key": token}).status_code == 404
    assert api.get("/v2/models/acme/churn", headers={"X-API-Key": token}).status_code == 200
    by_api_key = api.post(
        "/v2/models/acme/churn/infer", json=infer_body(features[:1]), headers={"X-API-Key": token}
    )
    assert by_api_key.status_code == 200, by_api_key.text
    basic = api.post(
        "/v2/models/acme/churn/infer",
        json=infer_body(features[:1]),
        headers={"Authorization": f"Basic {token}"},
    )
    assert basic.status_code == 401
    assert basic.json()["error"] == "the Authorization header must be 'Bearer <API key>'"


def test_repository_and_cache_operations_need_an_admin_key(
    keyed: tuple[TestClient, Client],
) -> None:
    api, shoal = keyed
    _, tenant_token = shoal.create_key("ci", tenant="acme")
    _, admin_token = shoal.create_key("ops")
    refused = api.post("/v2/repository/models/acme/churn/load", headers=bearer(tenant_token))
    assert refused.status_code == 403
    assert "admin key" in refused.json()["error"]
    assert api.get("/v2/cache", headers=bearer(tenant_token)).status_code == 403
    loaded = api.post("/v2/repository/models/acme/churn/load", headers=bearer(admin_token))
    assert loaded.status_code == 200
    assert api.get("/v2/cache", headers=bearer(admin_token)).json()["stats"]["loads"] == 1


def test_over_the_plan_is_a_429_with_retry_after_and_usage_counts_what_was_served(
    keyed: tuple[TestClient, Client], features: NDArray[np.float64]
) -> None:
    api, shoal = keyed
    _, token = shoal.create_key("ci", tenant="acme")
    shoal.set_plan("acme", rate_per_s=0.01, burst=2, quota_per_day=1000)
    codes = [
        api.post(
            "/v2/models/acme/churn/infer", json=infer_body(features[:1]), headers=bearer(token)
        ).status_code
        for _ in range(3)
    ]
    assert codes == [200, 200, 429]
    limited = api.post(
        "/v2/models/acme/churn/infer", json=infer_body(features[:1]), headers=bearer(token)
    )
    assert int(limited.headers["retry-after"]) >= 1
    assert "rate" in limited.json()["error"]
    day = next(u for u in shoal.usage("acme") if u.window == "day")
    assert (day.used, day.limit) == (2, 1000)


def test_a_revoked_key_is_refused(
    keyed: tuple[TestClient, Client], features: NDArray[np.float64]
) -> None:
    api, shoal = keyed
    key, token = shoal.create_key("ci", tenant="acme")
    assert (
        api.post(
            "/v2/models/acme/churn/infer", json=infer_body(features[:1]), headers=bearer(token)
        ).status_code
        == 200
    )
    shoal.revoke_key(key.id)
    revoked = api.post(
        "/v2/models/acme/churn/infer", json=infer_body(features[:1]), headers=bearer(token)
    )
    assert revoked.status_code == 401
    assert "revoked" in revoked.json()["error"]
