"""The runner: fan-out, tracking, failures, retries, resume, caching, snapshots and re-runs."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import pandas as pd
import pytest

from shoal.errors import ValidationError
from shoal.pipelines import (
    ItemStatus,
    Retry,
    RunRecord,
    RunStatus,
    StepStatus,
    each,
    log_metric,
    pipeline,
    snapshot_files,
    snapshot_frame,
    step,
)
from shoal.pipelines.environment import StepEnvironment
from shoal.pipelines.reports import summarize_steps
from shoal.storage.memory_runs import InMemoryRunStore

from .conftest import MakeRunner

logger = logging.getLogger("tests.pipelines")


def touch(folder: str, name: str) -> int:
    """Append one line to ``folder/name``; returns how many times it was touched."""
    path = Path(folder) / name
    with path.open("a") as handle:
        handle.write("x\n")
    return len(path.read_text().splitlines())


def touches(folder: str, name: str) -> int:
    path = Path(folder) / name
    return len(path.read_text().splitlines()) if path.exists() else 0


@step
def names(count: int) -> list[str]:
    return [f"t{i:02d}" for i in range(count)]


@step
def score(name: str, folder: str, broken: list[str] | None) -> float:
    touch(folder, name)
    sys.stdout.write(f"scoring {name}\n")  # what print() does
    logger.warning("warned about %s", name)
    log_metric("length", len(name))
    if name in (broken or []) and not Path(folder, "fixed").exists():
        raise ValueError(f"no data for {name}")
    return float(int(name[1:]))


@step
def total(scores: list[float]) -> float:
    return sum(scores)


@pipeline
def scoring(folder: str, count: int = 6, broken: list[str] | None = None) -> None:
    total(score.map(name=each(names(count)), folder=folder, broken=broken))


def test_a_fan_out_runs_every_item_and_gathers_their_outputs(
    make_runner: MakeRunner, store: InMemoryRunStore, env: StepEnvironment, tmp_path: Path
) -> None:
    run = make_runner().run(scoring, {"folder": str(tmp_path), "count": "6"})
    assert run.status is RunStatus.SUCCEEDED, run.error
    items = store.list_items(run.id, "score")
    assert [i.key for i in items] == [f"t{i:02d}" for i in range(6)]
    assert all(i.metrics == {"length": 3.0} for i in items)
    assert "scoring t03" in items[3].logs
    assert "warned about t03" in items[3].logs
    assert "scoring t03" not in items[2].logs
    [result] = store.list_items(run.id, "total")
    from shoal.pipelines import values

    assert result.output is not None
    assert values.load(result.output, env) == 15.0
    steps = summarize_steps(run, store.list_steps(run.id), store.list_items(run.id))
    assert [(s.name, s.status, s.succeeded) for s in steps] == [
        ("names", "succeeded", 1),
        ("score", "succeeded", 6),
        ("total", "succeeded", 1),
    ]


def test_a_failed_item_does_not_stop_the_others_and_resume_redoes_only_it(
    make_runner: MakeRunner, store: InMemoryRunStore, tmp_path: Path
) -> None:
    runner = make_runner()
    run = runner.run(scoring, {"folder": str(tmp_path), "broken": ["t02"]})
    assert run.status is RunStatus.FAILED
    assert "step score failed: 1 of 6 items failed; first: ValueError: no data for t02" in run.error
    failed = store.list_items(run.id, "score")[2]
    assert failed.status is ItemStatus.FAILED
    assert 'raise ValueError(f"no data for {name}")' in failed.error  # the traceback
    assert store.list_steps(run.id)[2].status is StepStatus.SKIPPED
    assert [touches(str(tmp_path), f"t{i:02d}") for i in range(6)] == [1] * 6

    (tmp_path / "fixed").touch()
    resumed = runner.resume(run.id)
    assert resumed.status is RunStatus.SUCCEEDED
    assert resumed.attempts == 2
    assert [touches(str(tmp_path), f"t{i:02d}") for i in range(6)] == [1, 1, 2, 1, 1, 1]
    assert runner.resume(run.id).attempts == 2  # a succeeded run has nothing left to do


@step(retry=Retry(attempts=3, backoff_s=0.01, jitter=0.0, transient=(ConnectionError,)))
def flaky(name: str, folder: str, failures: int) -> str:
    if touch(folder, name) <= failures:
        raise ConnectionResetError(f"{name} lost its connection")
    return name


@pipeline
def flakes(folder: str, failures: int, count: int = 4) -> None:
    flaky.map(name=each(names(count)), folder=folder, failures=failures)


def test_transient_errors_are_retried_with_backoff_until_they_pass(
    make_runner: MakeRunner, store: InMemoryRunStore, tmp_path: Path
) -> None:
    run = make_runner().run(flakes, {"folder": str(tmp_path), "failures": 2})
    assert run.status is RunStatus.SUCCEEDED, run.error
    assert {i.attempts for i in store.list_items(run.id, "flaky")} == {3}


def test_an_item_fails_once_its_attempts_are_spent(
    make_runner: MakeRunner, store: InMemoryRunStore, tmp_path: Path
) -> None:
    run = make_runner().run(flakes, {"folder": str(tmp_path), "failures": 5, "count": 2})
    assert run.status is RunStatus.FAILED
    items = store.list_items(run.id, "flaky")
    assert [(i.status, i.attempts) for i in items] == [(ItemStatus.FAILED, 3)] * 2
    assert "ConnectionResetError: t00 lost its connection" in items[0].error


@step(retry=Retry(attempts=5, backoff_s=0.0, transient=(ConnectionError,), budget=3))
def outage(name: str, folder: str) -> str:
    touch(folder, name)
    raise ConnectionRefusedError("the database is down")


@pipeline
def during_outage(folder: str) -> None:
    outage.map(name=each(names(10)), folder=folder)


def test_a_retry_budget_caps_the_retries_of_a_whole_fan_out(
    make_runner: MakeRunner, tmp_path: Path
) -> None:
    run = make_runner().run(during_outage, {"folder": str(tmp_path)})
    assert run.status is RunStatus.FAILED
    attempts = sum(touches(str(tmp_path), f"t{i:02d}") for i in range(10))
    assert attempts == 10 + 3  # every item once, plus the budget; not 10 * 5


@step(fail_fast=True)
def strict(name: str, folder: str) -> str:
    touch(folder, name)
    raise ValueError("bad input")


@pipeline
def strict_fan_out(folder: str) -> None:
    strict.map(name=each(names(50)), folder=folder)


def test_a_fail_fast_step_stops_submitting_items_after_a_failure(
    make_runner: MakeRunner, tmp_path: Path
) -> None:
    run = make_runner(workers=1).run(strict_fan_out, {"folder": str(tmp_path)})
    assert run.status is RunStatus.FAILED
    assert sum(touches(str(tmp_path), f"t{i:02d}") for i in range(50)) < 50


@step(cache=True)
def cached_square(value: int, folder: str) -> int:
    touch(folder, f"square-{value}")
    return value * value


@pipeline
def squares(folder: str, values: list[int]) -> None:
    cached_square.map(value=each(values), folder=folder)


def test_a_cached_step_reuses_outputs_of_earlier_runs_with_the_same_key(
    make_runner: MakeRunner, store: InMemoryRunStore, tmp_path: Path
) -> None:
    runner = make_runner()
    first = runner.run(squares, {"folder": str(tmp_path), "values": [1, 2]})
    second = runner.run(squares, {"folder": str(tmp_path), "values": [1, 2, 3]})
    assert second.status is RunStatus.SUCCEEDED
    items = store.list_items(second.id)
    assert [i.reused_from for i in items] == [first.id, first.id, None]
    assert [touches(str(tmp_path), f"square-{v}") for v in (1, 2, 3)] == [1, 1, 1]


@step
def frozen_input(source: str) -> pd.DataFrame:
    folder = snapshot_files("calls", source)
    frame = pd.read_csv(folder / Path(source).name)
    extra = snapshot_frame("lookup", lambda: pd.DataFrame({"k": [len(frame)]}))
    return frame.assign(k=extra["k"].iloc[0])


@step
def doubled(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(calls=frame["calls"] * 2)


@pipeline
def reproducible(source: str) -> None:
    doubled(frozen_input(source))


def test_a_rerun_reads_the_snapshot_and_gives_identical_artifacts(
    make_runner: MakeRunner, store: InMemoryRunStore, tmp_path: Path
) -> None:
    source = tmp_path / "calls.csv"
    source.write_text("calls\n1\n2\n3\n")
    runner = make_runner()
    first = runner.run(reproducible, {"source": str(source)})
    assert first.status is RunStatus.SUCCEEDED, first.error
    source.write_text("calls\n100\n")  # the source changes after the run
    again = runner.rerun(first.id)
    assert again.rerun_of == first.id
    assert again.params == first.params
    digests = [
        [i.output.digest for i in store.list_items(r.id) if i.output] for r in (first, again)
    ]
    assert digests[0] == digests[1]
    assert {s.name for s in store.list_snapshots(first.id)} == {"calls", "lookup"}
    fresh = runner.run(reproducible, {"source": str(source)})
    assert [i.output.digest for i in store.list_items(fresh.id) if i.output] != digests[0]


class Recorder:
    def __init__(self) -> None:
        self.runs: list[RunRecord] = []

    def run_finished(self, run: RunRecord) -> None:
        self.runs.append(run)


class Exploding:
    def run_finished(self, run: RunRecord) -> None:
        raise RuntimeError("notifier down")


def test_listeners_hear_once_of_each_run_and_cannot_fail_it(
    make_runner: MakeRunner, tmp_path: Path
) -> None:
    recorder = Recorder()
    runner = make_runner(listeners=(Exploding(), recorder))
    ok = runner.run(scoring, {"folder": str(tmp_path), "count": 2})
    bad = runner.run(scoring, {"folder": str(tmp_path), "count": 2, "broken": ["t01"]})
    assert [(r.id, r.status) for r in recorder.runs] == [
        (ok.id, RunStatus.SUCCEEDED),
        (bad.id, RunStatus.FAILED),
    ]
    assert recorder.runs[1].finished_at is not None
    assert "no data for t01" in recorder.runs[1].error


def test_unknown_parameters_fail_before_a_run_is_recorded(
    make_runner: MakeRunner, store: InMemoryRunStore
) -> None:
    from shoal.pipelines import RunQuery
    from shoal.registry.records import PageRequest

    with pytest.raises(ValidationError, match="has no parameter 'colour'"):
        make_runner().run(scoring, {"folder": "x", "colour": "red"})
    assert store.list_runs(RunQuery(), PageRequest()).items == ()


@step(retry=Retry(attempts=2, backoff_s=0.0))
def dies_once(name: str, folder: str) -> str:
    if touch(folder, name) == 1 and name == "t01":
        os._exit(3)  # the worker process dies mid-batch
    return name


@pipeline
def dying(folder: str) -> None:
    dies_once.map(name=each(names(4)), folder=folder)


def test_process_workers_run_items_and_a_dead_worker_is_retried(
    make_runner: MakeRunner, store: InMemoryRunStore, tmp_path: Path
) -> None:
    run = make_runner(pool="process").run(dying, {"folder": str(tmp_path)})
    assert run.status is RunStatus.SUCCEEDED, run.error
    items = store.list_items(run.id, "dies_once")
    assert [i.key for i in items] == ["t00", "t01", "t02", "t03"]
    assert items[1].attempts == 2


@step
def numbered(count: int) -> list[int]:
    return list(range(count))


@step
def square(value: int) -> int:
    return value * value


@step
def sum_all(values: list[int]) -> int:
    return sum(values)


@pipeline
def ten_thousand(count: int) -> None:
    sum_all(square.map(value=each(numbered(count))))


def test_a_fan_out_of_ten_thousand_items_records_every_item_and_reports_progress(
    make_runner: MakeRunner, store: InMemoryRunStore, env: StepEnvironment
) -> None:
    from shoal.pipelines import values

    seen: list[tuple[int, int]] = []
    run = make_runner(pool="process").run(
        ten_thousand, {"count": 10_000}, progress=lambda done, known: seen.append((done, known))
    )
    assert run.status is RunStatus.SUCCEEDED, run.error
    items = store.list_items(run.id, "square")
    assert len(items) == 10_000
    assert {i.status for i in items} == {ItemStatus.SUCCEEDED}
    [result] = store.list_items(run.id, "sum_all")
    assert result.output is not None
    assert values.load(result.output, env) == sum(i * i for i in range(10_000))
    assert seen[-1] == (10_002, 10_002)
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)


def test_resuming_a_pipeline_defined_inside_a_function_says_how_to_fix_it(
    make_runner: MakeRunner, tmp_path: Path
) -> None:
    @pipeline
    def local(folder: str) -> None:
        score.map(name=each(names(2)), folder=folder, broken=["t01"])

    runner = make_runner()
    run = runner.run(local, {"folder": str(tmp_path)})
    assert run.status is RunStatus.FAILED
    with pytest.raises(ValidationError, match="defined inside a function"):
        runner.resume(run.id)


def test_a_rerun_is_refused_when_a_step_s_code_changed_since(
    make_runner: MakeRunner, store: InMemoryRunStore, tmp_path: Path
) -> None:
    from dataclasses import replace

    runner = make_runner()
    run = runner.run(scoring, {"folder": str(tmp_path), "count": 2})
    # As if score's source had been edited after the run: its recorded digest no longer matches.
    edited = replace(store.list_steps(run.id)[1], code_digest="0" * 64)
    store.record(run.id, "", run.created_at, steps=[edited])
    with pytest.raises(ValidationError, match="the code of steps score changed since"):
        runner.rerun(run.id)


def test_resume_reruns_a_succeeded_item_whose_cache_key_no_longer_matches(
    make_runner: MakeRunner, store: InMemoryRunStore, tmp_path: Path
) -> None:
    from dataclasses import replace

    runner = make_runner()
    run = runner.run(scoring, {"folder": str(tmp_path), "broken": ["t05"]})
    stale = replace(store.list_items(run.id, "score")[0], cache_key="0" * 64)
    store.record(run.id, "", run.created_at, items=[stale])  # as if its inputs had changed
    (tmp_path / "fixed").touch()
    assert runner.resume(run.id).status is RunStatus.SUCCEEDED
    assert [touches(str(tmp_path), f"t{i:02d}") for i in range(6)] == [2, 1, 1, 1, 1, 2]
