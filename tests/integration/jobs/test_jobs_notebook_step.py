"""A notebook as a pipeline step, run through ``shoal pipelines run``; failures notify."""

import json
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_notebook
from typer.testing import CliRunner

from shoal.cli.main import app
from shoal.jobs.notifications import RunNotifier
from shoal.notify import Notification, NotificationDispatcher
from shoal.pipelines.records import RunRecord, RunStatus
from shoal.settings import Settings
from shoal.wiring import build_run_listeners

PIPELINE = """
from pathlib import Path

from shoal.jobs.steps import NotebookSummary, notebook_step
from shoal.pipelines.dsl import pipeline, step

report = notebook_step(Path(__file__).with_name("report.ipynb"), max_runtime_s=120)


@step
def wall_time(summary: NotebookSummary) -> float:
    return float(summary["wall_s"])


@pipeline
def nightly(day: str = "2024-01-01", fail: bool = False) -> None:
    wall_time(report(day=day, fail=fail))
"""


def test_a_notebook_step_runs_with_pipeline_parameters_and_fails_the_run_on_an_error_cell(
    tmp_path: Path,
) -> None:
    cells = [
        new_code_cell("day = '2000-01-01'\nfail = False", metadata={"tags": ["parameters"]}),
        new_code_cell("assert not fail, f'bad data on {day}'\nprint('report for', day)"),
    ]
    nbformat.write(new_notebook(cells=cells), tmp_path / "report.ipynb")
    (tmp_path / "nightly.py").write_text(PIPELINE)
    runner = CliRunner()
    base = ["--home", str(tmp_path / "home")]
    reference = f"{tmp_path / 'nightly.py'}:nightly"
    ok = runner.invoke(
        app, [*base, "pipelines", "run", reference, "-p", "day=2024-02-01", "-o", "json"]
    )
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout)["status"] == "succeeded"
    failed = runner.invoke(
        app, [*base, "pipelines", "run", reference, "-p", "fail=true", "-o", "json"]
    )
    assert failed.exit_code != 0
    outcome = json.loads(failed.stdout)
    assert outcome["status"] == "failed"
    assert "cell 1 raised AssertionError: bad data on 2024-01-01" in outcome["error"]


def test_failed_runs_are_notified_and_successes_only_when_asked() -> None:
    sent: list[Notification] = []

    class Recording:
        channel = "recording"

        def send(self, notification: Notification) -> None:
            sent.append(notification)

    from datetime import UTC, datetime

    at = datetime(2024, 3, 1, 2, tzinfo=UTC)
    failed = RunRecord(
        "r1",
        "nightly",
        "jobs:nightly",
        {"day": "2024-02-30"},
        RunStatus.FAILED,
        "local",
        at,
        "ana",
        at,
        "ValueError: day is out of range for month",
    )
    succeeded = RunRecord(
        "r2", "nightly", "jobs:nightly", {}, RunStatus.SUCCEEDED, "local", at, "ana", at
    )
    notifier = RunNotifier(NotificationDispatcher([Recording()], retries=0))
    notifier.run_finished(failed)
    notifier.run_finished(succeeded)
    assert [n.title for n in sent] == ["pipeline nightly failed"]
    assert sent[0].text == "ValueError: day is out of range for month"
    assert sent[0].facts["parameters"] == "day=2024-02-30"
    chatty = RunNotifier(NotificationDispatcher([Recording()], retries=0), on_success=True)
    chatty.run_finished(succeeded)
    assert sent[-1].title == "pipeline nightly succeeded"


def test_the_wiring_listens_to_runs_only_when_a_channel_is_configured(tmp_path: Path) -> None:
    assert build_run_listeners(Settings(home=tmp_path), None) == []  # type: ignore[arg-type]
    settings = Settings(home=tmp_path, notify_webhook_url="https://hooks.example.com/x/y")
    [listener] = build_run_listeners(settings, None)  # type: ignore[arg-type]
    assert isinstance(listener, RunNotifier)
