"""A fan-out that trains and registers a model per tenant, with lineage to run and snapshot."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from shoal.client import Client
from shoal.pipelines import RunStatus
from shoal.settings import Settings
from shoal.wiring import build_runner
from tests.integration.pipelines.flows import tenant_models


def test_each_tenant_model_is_registered_with_its_run_and_data_snapshot(
    tmp_path: Path,
) -> None:
    tenants = ["acme", "globex", "initech"]
    rng = np.random.default_rng(0)
    for tenant in tenants:
        pd.DataFrame({"calls": rng.poisson(20, 50)}).to_csv(tmp_path / f"{tenant}.csv", index=False)
    settings = Settings(home=tmp_path / "home", pipeline_workers=2)
    with Client(settings, actor="tester") as client:
        for tenant in tenants:
            client.create_tenant(tenant)
        runner = build_runner(settings, client.services)
        run = runner.run(tenant_models, {"folder": str(tmp_path), "tenants": tenants})
        assert run.status is RunStatus.SUCCEEDED, run.error
        snapshots = {s.index: s for s in runner.store.list_snapshots(run.id)}
        items = runner.store.list_items(run.id, "train")
        assert [i.registered for i in items] == [(f"{t}/detector:1",) for t in tenants]
        for index, tenant in enumerate(tenants):
            version = client.get_version(f"{tenant}/detector:1")
            assert version.lineage.run_id == run.id
            assert version.lineage.snapshot_id == snapshots[index].digest  # via its input
            assert version.metrics == {"rows": 50.0}
            assert version.tags["pipeline.step"] == "train"
            assert snapshots[index].name == f"{tenant}-calls"
        rerun = runner.rerun(run.id)
        assert rerun.status is RunStatus.SUCCEEDED, rerun.error
        assert client.get_version("acme/detector:2").lineage.run_id == rerun.id
