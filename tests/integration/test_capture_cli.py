"""``shoal capture``: set, show, list and remove settings; read captured inferences back."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from shoal.cli.main import app
from shoal.client import Client
from shoal.observability.capture import CapturePartition, CaptureRecord
from shoal.settings import Settings
from shoal.wiring import build_capture_files
from tests.integration.conftest import fit_classifier

Shoal = Callable[..., str]


@pytest.fixture
def shoal(tmp_path: Path) -> Shoal:
    home = tmp_path / "home"
    x = np.random.default_rng(0).normal(size=(50, 3))
    with Client(Settings(home=home), actor="tester") as client:
        for tenant in ("acme", "globex"):
            client.create_tenant(tenant)
        client.register("acme/churn", fit_classifier(x), sample_input=x[:3])
    runner = CliRunner()

    def invoke(*args: str, code: int = 0) -> str:
        result = runner.invoke(app, ["--home", str(home), *args], env={"SHOAL_ACTOR": "alice"})
        assert result.exit_code == code, result.output
        return result.output

    return invoke


def test_settings_are_set_shown_listed_and_removed(shoal: Shoal) -> None:
    assert "capture of acme/churn: 10% of inferences" in shoal(
        "capture", "set", "acme/churn", "--percent", "10"
    )
    shoal("capture", "set", "acme", "--percent", "2.5")
    shown = json.loads(shoal("capture", "show", "acme/churn", "--output", "json"))
    assert (shown["percent"], shown["source"]["model"]) == (10.0, "churn")
    assert shown["source"]["updated_by"] == "alice"
    listing = json.loads(shoal("capture", "list", "--output", "json"))
    assert [(c["tenant"], c["model"], c["percent"]) for c in listing["items"]] == [
        ("acme", None, 2.5),
        ("acme", "churn", 10.0),
    ]
    assert "tenant default" in shoal("capture", "list")
    assert "removed the capture setting of acme/churn" in shoal("capture", "remove", "acme/churn")
    assert "set for acme" in shoal("capture", "show", "acme/churn")
    assert json.loads(shoal("capture", "list", "--tenant", "globex", "-o", "json"))["items"] == []


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("set", "acme/churn", "--percent", "120"), 2, "between 0 and 100, got 120"),
        (("set", "acme/churn:1", "--percent", "5"), 2, "capture is set per model"),
        (("set", "acme/fraud", "--percent", "5"), 3, "model acme/fraud does not exist"),
        (("set", "Acme", "--percent", "5"), 2, "tenant name 'Acme'"),
        (("remove", "globex"), 3, "no capture setting for 'globex'"),
        (("read", "acme/churn", "--hour", "yesterday"), 2, "--hour must look like"),
        (("show", "acme"), 2, "expected tenant/model"),
    ],
)
def test_bad_input_exits_non_zero_naming_the_value(
    shoal: Shoal, args: tuple[str, ...], code: int, message: str
) -> None:
    assert message in shoal("capture", *args, code=code)


def test_captured_inferences_are_read_back_by_hour(shoal: Shoal, tmp_path: Path) -> None:
    files = build_capture_files(Settings(home=tmp_path / "home"))
    for n, hour in enumerate([10, 10, 11]):
        at = datetime(2026, 11, 22, hour, 5 + n, tzinfo=UTC).timestamp()
        record = CaptureRecord(
            f"inf-{n}",
            "acme",
            "churn",
            1,
            at,
            {"input": np.array([[float(n), 1.0, 2.0]])},
            {"label": np.array([n])},
            10,
        )
        files.write(CapturePartition.of(record), [record])
    rows = json.loads(
        shoal("capture", "read", "acme/churn", "--hour", "2026-11-22T10", "-o", "json")
    )
    assert [r["inference_id"] for r in rows] == ["inf-0", "inf-1"]
    assert rows[1]["request"]["inputs"][0]["data"] == [1.0, 1.0, 2.0]
    assert rows[1]["response"] == {
        "outputs": [{"name": "label", "datatype": "INT64", "shape": [1], "data": [1]}]
    }
    table = shoal("capture", "read", "acme/churn", "--limit", "1")
    assert "inf-0" in table
    assert "(1 of 3)" in table
