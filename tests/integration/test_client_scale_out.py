"""The embedded client on the scale-out stores: PostgreSQL metadata and S3 artifacts."""

from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

import numpy as np
import pytest

from shoal.client import Client
from shoal.settings import Settings
from tests.integration.conftest import fit_classifier


def _round_trip(client: Client) -> None:
    x = np.random.default_rng(3).normal(size=(60, 4))
    model = fit_classifier(x)
    client.create_tenant("acme")
    version = client.register("acme/churn", model, sample_input=x[:3], aliases=["production"])
    loaded = client.verify("acme/churn@production")
    assert loaded.version.artifact == version.artifact
    np.testing.assert_array_equal(client.predict("acme/churn", x)["label"], model.predict(x))


@pytest.mark.postgres
def test_the_registry_works_on_postgresql(
    tmp_path: Path, postgres_database: Callable[[], AbstractContextManager[str]]
) -> None:
    with postgres_database() as url, Client(Settings(home=tmp_path, metadata_url=url)) as client:
        _round_trip(client)
        assert [t.name for t in client.list_tenants().items] == ["acme"]


@pytest.mark.s3
def test_artifacts_can_live_in_an_s3_compatible_store(tmp_path: Path, s3_endpoint: str) -> None:
    settings = Settings(
        home=tmp_path,
        artifact_url="s3://artifacts/registry",
        artifact_endpoint_url=s3_endpoint,
        artifact_key="test",
        artifact_secret="test",  # type: ignore[arg-type]  # pydantic turns it into a SecretStr
    )
    with Client(settings) as client:
        _round_trip(client)
    assert not (tmp_path / "artifacts").exists()
