"""Liveness, readiness (started, metadata and artifacts reachable) and per-model readiness."""

import asyncio
import dataclasses

import httpx
import numpy as np
from fastapi.testclient import TestClient
from numpy.typing import NDArray

from shoal.client import Client
from shoal.server import ServerConfig, create_app
from shoal.settings import Settings
from shoal.storage.engine import create_engine
from shoal.wiring import Services, build_inference, build_telemetry
from tests.integration.conftest import fit_classifier


def app_over(services: Services, settings: Settings) -> TestClient:
    inference = build_inference(settings, services)
    telemetry = build_telemetry(settings, services, inference)
    return TestClient(create_app(inference, ServerConfig(), services.access, telemetry=telemetry))


def readiness(api: TestClient) -> httpx.Response:
    """The readiness answer once start-up (importing onnxruntime, in the background) is done."""
    for _ in range(200):
        response = api.get("/v2/health/ready")
        if response.json()["checks"]["started"]:
            return response
        api.portal.call(asyncio.sleep, 0.05)
    raise AssertionError("the server never finished starting")


def test_a_started_server_with_reachable_stores_is_ready_and_live(
    client: Client, settings: Settings
) -> None:
    with app_over(client.services, settings) as api:
        assert api.get("/v2/health/live").status_code == 200
        ready = readiness(api)
    assert ready.status_code == 200
    assert ready.json() == {
        "ready": True,
        "checks": {"started": True, "metadata": True, "artifacts": True},
    }


def test_an_unreachable_metadata_store_makes_the_server_not_ready(
    client: Client, settings: Settings
) -> None:
    folder = settings.home / "gone"
    broken = create_engine(f"sqlite:///{folder}/shoal.db")  # makes the folder...
    folder.rmdir()
    folder.write_text("a file where the database's folder was")  # ...which then goes
    services = dataclasses.replace(client.services, engine=broken)
    with app_over(services, settings) as api:
        ready = readiness(api)
    assert ready.status_code == 503
    assert ready.json()["checks"] == {"started": True, "metadata": False, "artifacts": True}
    assert "sqlite" not in ready.text.lower()  # names only: no error text for anonymous callers


def test_a_model_is_ready_when_resident_and_unknown_or_hidden_models_are_404(
    client: Client, settings: Settings, features: NDArray[np.float64]
) -> None:
    client.create_tenant("globex")
    for tenant in ("acme", "globex"):
        client.register(f"{tenant}/churn", fit_classifier(features), sample_input=features[:4])
    _, token = client.create_key("ci", tenant="acme")
    _, admin = client.create_key("ops")
    key, admin_key = {"X-API-Key": token}, {"X-API-Key": admin}
    with app_over(client.services, settings) as api:
        assert api.get("/v2/models/acme/churn/ready", headers=key).status_code == 400
        loaded = api.post("/v2/repository/models/acme/churn/load", headers=admin_key)
        assert loaded.status_code == 200
        assert api.get("/v2/models/acme/churn/ready", headers=key).status_code == 200
        assert api.get("/v2/models/acme/churn/versions/1/ready", headers=key).status_code == 200
        assert api.get("/v2/models/acme/churn/versions/9/ready", headers=key).status_code == 404
        assert api.get("/v2/models/acme/nope/ready", headers=key).status_code == 404
        assert api.get("/v2/models/globex/churn/ready", headers=key).status_code == 404
        assert api.get("/v2/models/acme/churn/ready").status_code == 401
