"""A whole run on PostgreSQL: the runner, forked workers and the run store over one database."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

import pytest

from shoal.client import Client
from shoal.pipelines import ItemStatus, RunStatus
from shoal.settings import Settings
from shoal.wiring import build_runner
from tests.integration.pipelines.flows import effects, fan_out


@pytest.mark.postgres
def test_a_fan_out_runs_and_resumes_on_postgresql(
    postgres_database: Callable[[], AbstractContextManager[str]], tmp_path: Path
) -> None:
    with postgres_database() as url:
        settings = Settings(home=tmp_path / "home", metadata_url=url, pipeline_workers=2)
        with Client(settings) as client:
            runner = build_runner(settings, client.services)
            failed = runner.run(fan_out, {"folder": str(tmp_path), "count": 50, "delay_ms": -1})
            assert failed.status is RunStatus.FAILED
            items = runner.store.list_items(failed.id, "work")
            assert len(items) == 50
            assert {i.status for i in items} == {ItemStatus.FAILED}
            run = runner.run(fan_out, {"folder": str(tmp_path), "count": 50})
            assert run.status is RunStatus.SUCCEEDED, run.error
            [total] = runner.store.list_items(run.id, "total")
            assert total.output is not None
            assert total.output.inline == b"2450"
            assert len(effects(str(tmp_path))) == 100
            assert runner.resume(run.id).attempts == 1  # nothing left to do
