"""The remote client and the CLI's ``--url`` against a real server on 127.0.0.1 (uvicorn)."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import uvicorn
from sklearn.linear_model import LogisticRegression
from typer.testing import CliRunner

from shoal.access.records import AccessAction
from shoal.api.management import Management
from shoal.cli.main import app as cli
from shoal.client import Client
from shoal.errors import AuthenticationError, NotFoundError, RemoteError
from shoal.server import ServerConfig, create_app
from shoal.settings import Settings
from shoal.wiring import build_inference


@dataclass
class Server:
    url: str
    token: str
    local: Client


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    settings = Settings(home=tmp_path, key_cache_ttl_s=0.0)
    with Client(settings, actor="operator") as local:
        for tenant in ("acme", "globex"):
            local.create_tenant(tenant)
        _, token = local.create_key("ops")
        services = local.services
        manage = Management(services.registry, services.access, local.actor)
        app = create_app(
            build_inference(settings, services), ServerConfig(), services.access, manage
        )
        port = free_port()
        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
        running = uvicorn.Server(config)
        thread = threading.Thread(target=running.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 30
        while not running.started:
            assert thread.is_alive(), "the server stopped while starting"
            assert time.monotonic() < deadline, "the server did not start in 30 s"
            time.sleep(0.02)
        try:
            yield Server(f"http://127.0.0.1:{port}", token, local)
        finally:
            running.should_exit = True
            thread.join(timeout=10)


@pytest.mark.slow
def test_a_remote_client_manages_and_calls_models_over_http(server: Server) -> None:
    x = np.random.default_rng(0).normal(size=(100, 4))
    model = LogisticRegression().fit(x, (x[:, 0] > 0).astype(int))
    with Client(url=server.url, api_key=server.token) as remote:
        version = remote.register("acme/churn", model, sample_input=x[:5], metrics={"auc": 0.9})
        remote.approve(version.ref, comment="good")
        remote.set_alias(version.ref, "production")
        assert remote.get_version("acme/churn@production") == server.local.get_version(version.ref)
        outputs = remote.predict("acme/churn@production", x)
        np.testing.assert_array_equal(outputs["label"], model.predict(x))
        np.testing.assert_allclose(outputs["probabilities"], model.predict_proba(x), atol=1e-9)
        key, token = remote.create_key("ci", tenant="globex")
        remote.set_plan("globex", rate_per_s=10.0, burst=10, quota_per_day=100)
        actions = [e.action for e in remote.access_history(tenant="globex").items]
        assert actions == [AccessAction.PLAN_SET, AccessAction.KEY_CREATED]
    with Client(url=server.url, api_key=token) as tenant:
        assert tenant.list_models().items == ()
        with pytest.raises(NotFoundError, match="model acme/churn does not exist"):
            tenant.predict("acme/churn", x[:1])
        assert tenant.usage("globex")[0].limit == 100
    forged = Client(url=server.url, api_key="shoal_0123456789abcdef_" + "x" * 43)
    with forged, pytest.raises(AuthenticationError, match="not recognised"):
        forged.list_models()
    nowhere = Client(url=f"http://127.0.0.1:{free_port()}", api_key=server.token)
    with nowhere, pytest.raises(RemoteError, match="could not be reached"):
        nowhere.list_tenants()
    assert key.tenant == "globex"


@pytest.mark.slow
def test_the_cli_manages_a_remote_server_with_url_and_api_key(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = CliRunner()
    flags = ["--url", server.url, "--api-key", server.token]
    created = runner.invoke(cli, [*flags, "tenants", "create", "initech"])
    assert created.exit_code == 0, created.output
    monkeypatch.setenv("SHOAL_URL", server.url)
    monkeypatch.setenv("SHOAL_API_KEY", server.token)
    listed = runner.invoke(cli, ["tenants", "list", "-o", "json"])
    assert [t["name"] for t in json.loads(listed.output)["items"]] == ["acme", "globex", "initech"]
    assert (
        runner.invoke(cli, ["plans", "set", "acme", "--rate", "5", "--burst", "5"]).exit_code == 0
    )
    history = runner.invoke(cli, ["keys", "history", "--subject", "acme", "-o", "json"])
    assert [e["action"] for e in json.loads(history.output)["items"]] == ["plan.set"]
    missing = runner.invoke(cli, ["models", "show", "acme/nope"])
    assert missing.exit_code == 3
    assert "model acme/nope does not exist" in missing.output
    assert [t.name for t in server.local.iter_tenants()] == ["acme", "globex", "initech"]
