"""A scheduled fire runs ``shoal pipelines run`` in its own process, through the CLI contract."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from schedule_fakes import Clock

from shoal.registry.records import PageRequest
from shoal.scheduling import FireStatus, Scheduler, ScheduleService, SubprocessLauncher
from shoal.scheduling.service import load_and_bind
from shoal.storage.engine import create_engine
from shoal.storage.migrate import upgrade
from shoal.storage.sql_schedules import SqlScheduleStore

PIPELINE = """
from shoal.pipelines.dsl import pipeline, step


@step
def double(n: int) -> int:
    if n < 0:
        raise ValueError(f"n must be positive, got {n}")
    return 2 * n


@pipeline
def doubling(n: int = 1) -> None:
    double(n)
"""


@pytest.mark.slow
def test_a_due_fire_runs_the_pipeline_in_a_process_and_records_its_run(tmp_path: Path) -> None:
    (tmp_path / "pipes.py").write_text(PIPELINE)
    home = tmp_path / "home"
    engine = create_engine(f"sqlite:///{home / 'shoal.db'}")
    upgrade(engine)
    store = SqlScheduleStore(engine)
    now = datetime.now(UTC)
    schedules = ScheduleService(store, "ana", load_and_bind, clock=lambda: now)
    ok = schedules.add(
        "ok", str(tmp_path / "pipes.py") + ":doubling", "* * * * *", "UTC", {"n": "3"}
    )
    assert ok.parameters == {"n": 3}
    schedules.add(
        "broken", str(tmp_path / "pipes.py") + ":doubling", "* * * * *", "UTC", {"n": "-1"}
    )
    launcher = SubprocessLauncher(home / "logs", ["--home", str(home)])
    clock = Clock(now + timedelta(minutes=1))
    scheduler = Scheduler(store, launcher, clock=clock)
    assert len(scheduler.tick()) == 2
    scheduler.drain()
    fires = {f.schedule: f for f in store.list_fires(None, PageRequest(10)).items}
    assert fires["ok"].status is FireStatus.SUCCEEDED, fires["ok"].detail
    assert fires["ok"].run_id
    assert fires["broken"].status is FireStatus.FAILED
    assert fires["broken"].exit_code != 0
    log = (home / "logs" / "broken").glob("*.log")
    assert "n must be positive" in next(log).read_text()
    engine.dispose()
