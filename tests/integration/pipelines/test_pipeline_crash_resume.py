"""SIGKILL the runner mid-run, resume: nothing recorded as done is redone, nothing is lost."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from shoal.pipelines import ItemStatus, RunStatus
from shoal.storage.engine import create_engine
from shoal.storage.sql_runs import SqlRunStore
from tests.integration.pipelines.flows import effects

ROOT = Path(__file__).resolve().parents[3]
COUNT = 400


def shoal(home: Path, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "shoal", "--home", str(home), *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its pool workers share its process group
    )


def succeeded(store: SqlRunStore) -> tuple[str | None, set[int]]:
    """The run's id and the items of ``work`` recorded as succeeded (none yet: empty)."""
    from shoal.pipelines import RunQuery
    from shoal.registry.records import PageRequest

    runs = store.list_runs(RunQuery(), PageRequest()).items
    if not runs:
        return None, set()
    items = store.list_items(runs[0].id, "work")
    return runs[0].id, {i.index for i in items if i.status is ItemStatus.SUCCEEDED}


@pytest.mark.slow
def test_a_killed_run_resumes_without_redoing_recorded_items(tmp_path: Path) -> None:
    home = tmp_path / "home"
    runner = shoal(
        home,
        "pipelines",
        "run",
        "tests.integration.pipelines.flows:fan_out",
        "-p",
        f"folder={tmp_path}",
        "-p",
        f"count={COUNT}",
        "-p",
        "delay_ms=10",
        "--workers",
        "2",
    )
    home.mkdir(exist_ok=True)
    engine = None
    run_id, done = None, set()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(done) < COUNT // 4:
        time.sleep(0.05)
        if engine is None and (home / "shoal.db").exists():
            engine = create_engine(f"sqlite:///{home / 'shoal.db'}")
        if engine is not None:
            try:
                run_id, done = succeeded(SqlRunStore(engine))
            except Exception:  # the runner may still be migrating the new database
                continue
        assert runner.poll() is None, runner.stdout.read() if runner.stdout else ""
    os.kill(runner.pid, signal.SIGKILL)  # the runner, mid-run: no chance to clean up
    runner.wait(timeout=10)
    os.killpg(runner.pid, signal.SIGKILL)  # and its orphaned workers
    time.sleep(0.2)
    assert engine is not None
    assert run_id is not None
    store = SqlRunStore(engine)
    _, recorded = succeeded(store)
    assert COUNT // 4 <= len(recorded) < COUNT, "the kill must land mid-run"
    before = Counter(effects(str(tmp_path)))
    killed = store.find_run(run_id)
    assert killed is not None
    assert killed.status is RunStatus.RUNNING

    resume = shoal(home, "runs", "resume", run_id, "--workers", "2")
    output, _ = resume.communicate(timeout=120)
    assert resume.returncode == 0, output.decode()

    after = Counter(effects(str(tmp_path)))
    names = [f"i{n:04d}" for n in range(COUNT)]
    # Nothing recorded as done ran again; everything else ran (again, if it had finished
    # unrecorded within the last flush interval when the runner died).
    assert all(after[names[i]] == 1 for i in recorded)
    assert set(after) == set(names)
    redone = [n for n in names if after[n] > 1]
    assert all(before[n] == 1 for n in redone)
    final = store.find_run(run_id)
    assert final is not None
    assert final.status is RunStatus.SUCCEEDED
    assert final.attempts == 2
    items = store.list_items(run_id, "work")
    assert len(items) == COUNT
    assert all(i.status is ItemStatus.SUCCEEDED for i in items)
    [total] = store.list_items(run_id, "total")
    assert total.output is not None
    assert total.output.inline == str(sum(range(COUNT)) * 2).encode()
    engine.dispose()
