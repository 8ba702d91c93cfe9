"""The management API (/api/v1) in-process: keys and scopes, JSON errors, upload safety, limits."""

from __future__ import annotations

import base64
import io
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import skops.io
from fastapi.testclient import TestClient
from numpy.typing import NDArray

from shoal.api.management import Management
from shoal.client import Client
from shoal.server import ServerConfig, create_app
from shoal.settings import Settings
from shoal.wiring import build_inference, build_services
from tests.integration.conftest import fit_classifier


@dataclass
class Api:
    http: TestClient
    local: Client
    admin: dict[str, str]
    acme: dict[str, str]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def serve(settings: Settings, config: ServerConfig, auth: bool = True) -> Iterator[Api]:
    fresh = settings.model_copy(update={"key_cache_ttl_s": 0.0})
    with Client(services=build_services(fresh), actor="operator") as local:
        for tenant in ("acme", "globex"):
            local.create_tenant(tenant)
        _, admin = local.create_key("ops")
        _, acme = local.create_key("ci", tenant="acme")
        services = local.services
        manage = Management(services.registry, services.access, local.actor)
        access = services.access if auth else None
        app = create_app(build_inference(fresh, services), config, access, manage)
        with TestClient(app) as http:
            yield Api(http, local, bearer(admin), bearer(acme))


@pytest.fixture
def api(settings: Settings) -> Iterator[Api]:
    yield from serve(settings, ServerConfig(max_upload_bytes=256 * 1024))


def skops_upload(
    features: NDArray[np.float64], tmp_path: Path, **extra: object
) -> dict[str, object]:
    skops.io.dump(fit_classifier(features), tmp_path / "churn.skops")
    content = base64.b64encode((tmp_path / "churn.skops").read_bytes()).decode()
    return {"file_name": "churn.skops", "content_base64": content, **extra}


def tar_upload(members: dict[str, bytes], mode: str = "w") -> dict[str, object]:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=mode) as archive:  # type: ignore[call-overload]
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    content = base64.b64encode(buffer.getvalue()).decode()
    return {"file_name": "model.tar", "content_base64": content, "archive": True}


def test_every_route_needs_a_key_and_says_so_in_json(api: Api) -> None:
    for method, path in [
        ("GET", "/api/v1/tenants"),
        ("GET", "/api/v1/models"),
        ("POST", "/api/v1/keys"),
        ("GET", "/api/v1/usage/acme"),
    ]:
        answer = api.http.request(method, path)
        assert answer.status_code == 401, path
        assert answer.json()["type"] == "AuthenticationError"
        assert answer.headers["www-authenticate"].startswith("Bearer")


def test_a_tenant_key_reads_its_own_tenant_and_nothing_of_another(
    api: Api, features: NDArray[np.float64]
) -> None:
    for tenant in ("acme", "globex"):
        api.local.register(f"{tenant}/churn", fit_classifier(features))
    for tenant in ("acme", "globex"):
        api.local.set_plan(tenant, 1.0, 1)
    own = api.http.get("/api/v1/models", headers=api.acme).json()["items"]
    assert [m["tenant"] for m in own] == ["acme"]
    assert api.http.get("/api/v1/models/acme/churn/versions/1", headers=api.acme).status_code == 200
    assert api.http.get("/api/v1/usage/acme", headers=api.acme).status_code == 200
    hidden = [
        "/api/v1/models?tenant=globex",
        "/api/v1/models/globex/churn",
        "/api/v1/models/globex/churn/versions",
        "/api/v1/models/globex/churn/versions/1",
        "/api/v1/models/globex/nope/default-version",
        "/api/v1/history?tenant=globex",
        "/api/v1/plans/globex",
        "/api/v1/usage/globex",
    ]
    for path in hidden:
        answer = api.http.get(path, headers=api.acme)
        assert (answer.status_code, answer.json()["type"]) == (404, "NotFoundError"), path
    # Another tenant's model and a model that does not exist answer the same.
    assert api.http.get("/api/v1/models/globex/churn", headers=api.acme).json()[
        "error"
    ] == api.http.get("/api/v1/models/umbrella/churn", headers=api.acme).json()["error"].replace(
        "umbrella", "globex"
    )


def test_changes_tenants_and_keys_need_an_admin_key(
    api: Api, features: NDArray[np.float64], tmp_path: Path
) -> None:
    api.local.register("acme/churn", fit_classifier(features))
    refused = [
        ("POST", "/api/v1/tenants", {"name": "initech"}),
        ("GET", "/api/v1/tenants", None),
        ("GET", "/api/v1/keys", None),
        ("POST", "/api/v1/keys", {"name": "x", "scope": "admin"}),
        ("PUT", "/api/v1/plans/acme", {"rate_per_s": 1, "burst": 1}),
        ("PUT", "/api/v1/models/acme/churn/aliases/production", {"version": 1}),
        ("DELETE", "/api/v1/models/acme/churn", None),
        ("POST", "/api/v1/models/acme/churn/versions", skops_upload(features, tmp_path)),
        ("GET", "/api/v1/access/history", None),
    ]
    for method, path, body in refused:
        answer = api.http.request(method, path, json=body, headers=api.acme)
        assert (answer.status_code, answer.json()["type"]) == (403, "AccessDeniedError"), path
    moved = api.http.put(
        "/api/v1/models/acme/churn/aliases/production", json={"version": 1}, headers=api.admin
    )
    assert (moved.status_code, moved.json()["version"]) == (200, 1)


def test_malformed_or_unknown_json_is_a_400_with_a_json_body(api: Api) -> None:
    headers = {**api.admin, "Content-Type": "application/json"}
    for path in ("/api/v1/tenants", "/api/v1/keys", "/v2/models/acme/churn/infer"):
        answer = api.http.post(path, content=b'{"name": ', headers=headers)
        assert answer.status_code == 400, path
        assert "json" in answer.json()["error"].lower()
    typo = api.http.post("/api/v1/tenants", json={"name": "x", "descripton": ""}, headers=headers)
    assert typo.status_code == 400
    assert "descripton" in typo.json()["error"]
    bad_plan = api.http.put(
        "/api/v1/plans/acme", json={"rate_per_s": -1, "burst": 0}, headers=api.admin
    )
    assert bad_plan.status_code == 400
    assert "rate_per_s" in bad_plan.json()["error"]


def test_a_created_key_shows_its_token_once_and_listings_page_by_cursor(api: Api) -> None:
    created = api.http.post(
        "/api/v1/keys",
        json={"name": "dash", "scope": "tenant", "tenant": "acme"},
        headers=api.admin,
    )
    assert created.status_code == 201
    token = created.json()["token"]
    assert token.startswith(created.json()["key"]["prefix"])
    first = api.http.get("/api/v1/keys?limit=2", headers=api.admin).json()
    rest = api.http.get(f"/api/v1/keys?cursor={first['next_cursor']}", headers=api.admin).json()
    listed = first["items"] + rest["items"]
    assert [k["name"] for k in listed] == ["ops", "ci", "dash"]
    assert token not in str(listed)
    assert api.http.get("/v2/models/acme/x", headers=bearer(token)).status_code == 404
    mismatch = api.http.post(
        "/api/v1/keys", json={"name": "x", "scope": "admin", "tenant": "acme"}, headers=api.admin
    )
    assert mismatch.status_code == 400
    assert "admin key belongs to no tenant" in mismatch.json()["error"]


def test_an_uploaded_model_file_registers_and_serves(
    api: Api, features: NDArray[np.float64], tmp_path: Path
) -> None:
    sample = [
        {
            "name": "input",
            "datatype": "FP64",
            "shape": [2, 4],
            "data": features[:2].ravel().tolist(),
        }
    ]
    body = skops_upload(features, tmp_path, sample_input=sample, aliases=["production"])
    created = api.http.post("/api/v1/models/acme/churn/versions", json=body, headers=api.admin)
    assert created.status_code == 201, created.text
    version = created.json()
    assert (version["version"], version["aliases"], version["created_by"]) == (
        1,
        ["production"],
        f"key:{api.admin['Authorization'].split('_')[1]}",
    )
    assert version["tags"]["fast_path"] == "compact"
    infer = {"inputs": sample}
    answer = api.http.post("/v2/models/acme/churn/infer", json=infer, headers=api.acme)
    assert answer.status_code == 200


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"file_name": "../../etc/churn.skops"}, "file_name"),
        ({"file_name": "churn.skops", "content_base64": "not base64!"}, "not valid base64"),
        ({"file_name": "model.pkl"}, "pickle format runs code"),
        ({"format": "nope"}, "unknown model format 'nope'"),
        (tar_upload({"../escape.txt": b"x"}), "not a safe, uncompressed tar"),
        (tar_upload({"/shoal-abs.txt": b"x"}), "folder without shoal-python.json"),
        (tar_upload({"shoal-python.json": b"{}"}, mode="w:gz"), "uncompressed tar"),
    ],
)
def test_unsafe_or_broken_uploads_are_refused_and_leave_nothing(
    api: Api,
    features: NDArray[np.float64],
    tmp_path: Path,
    change: dict[str, object],
    message: str,
) -> None:
    body = {**skops_upload(features, tmp_path), **change}
    answer = api.http.post("/api/v1/models/acme/churn/versions", json=body, headers=api.admin)
    assert answer.status_code == 400, answer.text
    assert message in answer.json()["error"]
    assert not (tmp_path.parent / "escape.txt").exists()
    assert not Path("/shoal-abs.txt").exists()  # the data filter strips the leading slash
    assert api.local.list_models(tenant="acme").items == ()


def test_a_pickle_upload_registers_only_where_the_server_allows_pickle(
    settings: Settings, features: NDArray[np.float64], tmp_path: Path
) -> None:
    import joblib

    joblib.dump(fit_classifier(features), tmp_path / "churn.joblib")
    content = base64.b64encode((tmp_path / "churn.joblib").read_bytes()).decode()
    body = {"file_name": "churn.joblib", "content_base64": content, "verify": False}
    allowing = settings.model_copy(update={"allow_pickle": True})
    for api in serve(allowing, ServerConfig()):
        answer = api.http.post("/api/v1/models/acme/churn/versions", json=body, headers=api.admin)
        assert (answer.status_code, answer.json()["format"]) == (201, "pickle")


def test_bodies_over_the_limits_are_a_413_with_a_json_body(
    api: Api, features: NDArray[np.float64]
) -> None:
    big = {"file_name": "m.onnx", "content_base64": "A" * (300 * 1024)}
    answer = api.http.post("/api/v1/models/acme/churn/versions", json=big, headers=api.admin)
    assert answer.status_code == 413
    assert "error" in answer.json()
    huge = {"name": "x", "description": "d" * (2 << 20)}
    assert api.http.post("/api/v1/tenants", json=huge, headers=api.admin).status_code == 413


def test_without_auth_changes_are_recorded_as_the_server_operator(settings: Settings) -> None:
    for api in serve(settings, ServerConfig(), auth=False):
        created = api.http.post("/api/v1/tenants", json={"name": "initech"})
        assert (created.status_code, created.json()["created_by"]) == (201, "operator")
        key = api.http.post("/api/v1/keys", json={"name": "k", "scope": "admin"}).json()["key"]
        events = api.http.get("/api/v1/access/history", params={"subject": f"key:{key['id']}"})
        assert [(e["action"], e["actor"]) for e in events.json()["items"]] == [
            ("key.created", "operator")
        ]


def test_the_openapi_document_describes_the_management_routes(api: Api) -> None:
    paths = api.http.get("/openapi.json").json()["paths"]
    for path in (
        "/api/v1/tenants",
        "/api/v1/models/{tenant}/{model}/versions",
        "/api/v1/models/{tenant}/{model}/aliases/{alias}",
        "/api/v1/keys/{key_id}/revoke",
        "/api/v1/plans/{subject}",
        "/api/v1/usage/{subject}",
        "/api/v1/access/history",
    ):
        assert path in paths
    assert "404" in paths["/api/v1/models/{tenant}/{model}"]["get"]["responses"]
