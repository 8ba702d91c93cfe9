"""``shoal pipelines`` and ``shoal runs`` in-process over real stores and a process pool."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shoal.cli.main import app
from tests.integration.pipelines.flows import effects

FLOWS = "tests.integration.pipelines.flows"
FILE = str(Path(__file__).with_name("flows.py"))

Invoke = Callable[..., str]


@pytest.fixture
def shoal(tmp_path: Path) -> Invoke:
    runner = CliRunner()
    home = tmp_path / "home"

    def invoke(*args: str, code: int = 0) -> str:
        result = runner.invoke(app, ["--home", str(home), *args])
        assert result.exit_code == code, result.output + repr(result.exception)
        return result.output

    return invoke


def test_a_pipeline_runs_by_module_reference_and_prints_its_run_as_json(
    shoal: Invoke, tmp_path: Path
) -> None:
    out = shoal(
        "pipelines",
        "run",
        f"{FLOWS}:fan_out",
        "-p",
        f"folder={tmp_path}",
        "-p",
        "count=30",
        "--workers",
        "2",
        "--output",
        "json",
    )
    result = json.loads(out)
    assert result["status"] == "succeeded"
    assert result["run_id"]
    assert sorted(effects(str(tmp_path))) == [f"i{n:04d}" for n in range(30)]
    shown = json.loads(shoal("runs", "show", result["run_id"], "--output", "json"))
    assert [(s["name"], s["succeeded"]) for s in shown["steps"]] == [
        ("items", 1),
        ("work", 30),
        ("total", 1),
    ]
    assert shown["steps"][1]["metrics"] == {"delay_ms": 0.0}
    logs = shoal("runs", "logs", result["run_id"], "--step", "work", "--item", "i0007")
    assert "worked on i0007" in logs
    assert "worked on i0008" not in logs
    listing = json.loads(shoal("runs", "list", "--output", "json"))
    assert [r["id"] for r in listing["items"]] == [result["run_id"]]


def test_a_pipeline_runs_by_file_reference_and_reruns_to_identical_outputs(
    shoal: Invoke, tmp_path: Path
) -> None:
    first = json.loads(
        shoal("pipelines", "run", f"{FILE}:fan_out", "-p", f"folder={tmp_path}", "--output", "json")
    )
    again = json.loads(shoal("runs", "rerun", first["run_id"], "--output", "json"))
    assert again["run"]["rerun_of"] == first["run_id"]
    compared = json.loads(
        shoal("runs", "compare", first["run_id"], again["run_id"], "--output", "json")
    )
    outputs = [row for row in compared["rows"] if row["what"].endswith(" output")]
    assert len(outputs) == 3
    assert all(row["same"] for row in outputs)
    table = shoal("runs", "compare", first["run_id"], again["run_id"])
    assert "work output" in table


def test_bad_parameters_and_references_are_clear_errors(shoal: Invoke, tmp_path: Path) -> None:
    out = shoal("pipelines", "run", f"{FLOWS}:fan_out", "-p", "colour=red", code=2)
    assert "has no parameter 'colour'" in out
    out = shoal(
        "pipelines", "run", f"{FLOWS}:fan_out", "-p", "folder=x", "-p", "count=many", code=2
    )
    assert "parameter 'count' must be int, got 'many'" in out
    assert "needs parameter 'folder'" in shoal("pipelines", "run", f"{FLOWS}:fan_out", code=2)
    assert "has no attribute 'nope'" in shoal("pipelines", "run", f"{FLOWS}:nope", code=3)
    assert "not a pipeline" in shoal("pipelines", "run", f"{FLOWS}:effects", code=2)
    assert shoal("runs", "list", "--output", "json").count('"id"') == 0


def test_a_failed_run_exits_non_zero_and_shows_the_traceback(shoal: Invoke, tmp_path: Path) -> None:
    out = shoal(
        "pipelines",
        "run",
        f"{FLOWS}:fan_out",
        "-p",
        f"folder={tmp_path}",
        "-p",
        "count=3",
        "-p",
        "delay_ms=-5",
        "--output",
        "json",
        code=1,
    )
    result = json.loads(out)
    assert result["status"] == "failed"
    assert "sleep length must be non-negative" in result["error"]
    logs = shoal("runs", "logs", result["run_id"], "--step", "work")
    assert "Traceback" in logs
    assert "time.sleep(delay_ms / 1000)" in logs
    items = json.loads(
        shoal("runs", "items", result["run_id"], "--status", "failed", "--output", "json")
    )
    assert len(items["items"]) == 3


def test_pipelines_show_prints_the_graph(shoal: Invoke) -> None:
    out = shoal("pipelines", "show", f"{FLOWS}:tenant_models")
    assert "tenant_data[*]" in out
    assert "tenant_data -> train[*]" in out
    shown = json.loads(shoal("pipelines", "show", f"{FLOWS}:tenant_models", "--output", "json"))
    assert [p["name"] for p in shown["params"]] == ["folder", "tenants", "seed"]
    assert shown["steps"][1]["inputs"]["frame"] == "each of step tenant_data"
