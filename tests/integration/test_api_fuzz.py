"""Fuzz the HTTP API with schemathesis against the app's own OpenAPI document.

Every V2 inference route and every management route is called with generated requests (valid
and invalid) under an admin key; each answer must not be a server error, must use a status
the document declares, and must match the declared response schema. Bounded: a few examples
per operation and no deadline, so it adds well under a minute.

The app is built when the module is imported, because schemathesis reads the document then
(its lazy, fixture-based loader does not work with this pytest); the fixture fills it with a
tenant, a model and an admin key before the first request.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    response_schema_conformance,
    status_code_conformance,
)

from shoal.api.management import Management
from shoal.client import Client
from shoal.server import ServerConfig, create_app
from shoal.settings import Settings
from shoal.wiring import build_inference
from tests.integration.conftest import fit_classifier

FUZZED = r"^/(v2|api/v1/(tenants|models|history|registrations|keys|plans|usage|access|capture))"
EXAMPLES = 15
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]

HOME = Path(tempfile.mkdtemp(prefix="shoal-fuzz-"))
atexit.register(shutil.rmtree, HOME, True)
SETTINGS = Settings(home=HOME, key_cache_ttl_s=0.0, resolve_ttl_s=0.0)
LOCAL = Client(SETTINGS, actor="fuzzer")
APP = create_app(
    build_inference(SETTINGS, LOCAL.services),
    ServerConfig(max_body_bytes=1 << 20, max_upload_bytes=1 << 20),
    LOCAL.services.access,
    Management(LOCAL.services.registry, LOCAL.services.access, LOCAL.actor),
)
schema = schemathesis.openapi.from_asgi("/openapi.json", APP).include(path_regex=FUZZED)


@pytest.fixture(scope="module")
def admin_headers() -> dict[str, str]:
    LOCAL.create_tenant("acme")
    x = np.random.default_rng(0).normal(size=(50, 4))
    LOCAL.register("acme/churn", fit_classifier(x), sample_input=x[:4], aliases=["production"])
    LOCAL.set_plan("acme", rate_per_s=1000.0, burst=1000)
    _, token = LOCAL.create_key("fuzzer")
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.slow
@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_the_http_api_answers_every_generated_request_as_documented(
    case: schemathesis.Case, admin_headers: dict[str, str]
) -> None:
    case.call_and_validate(headers=admin_headers, checks=CHECKS)
