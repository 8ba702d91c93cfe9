import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from skops.io import dump
from typer.testing import CliRunner

from shoal.cli.main import app
from tests.integration.conftest import fit_classifier


@pytest.fixture
def shoal(tmp_path: Path):  # type: ignore[no-untyped-def]
    runner = CliRunner()
    home = tmp_path / "home"

    def invoke(*args: str, code: int = 0) -> str:
        result = runner.invoke(app, ["--home", str(home), *args])
        assert result.exit_code == code, result.output
        return result.output

    return invoke


@pytest.fixture
def model_file(tmp_path: Path) -> Path:
    x = np.random.default_rng(0).normal(size=(100, 3))
    path = tmp_path / "model.skops"
    dump(fit_classifier(x), path)
    pd.DataFrame(x[:5], columns=["a", "b", "c"]).to_csv(tmp_path / "sample.csv", index=False)
    return path


def test_tenants_are_created_and_listed_as_json(shoal) -> None:  # type: ignore[no-untyped-def]
    shoal("tenants", "create", "acme", "--description", "first customer")
    shoal("tenants", "create", "globex")
    listing = json.loads(shoal("tenants", "list", "--output", "json"))
    assert [t["name"] for t in listing["items"]] == ["acme", "globex"]
    assert listing["next_cursor"] is None


def test_a_model_file_is_registered_promoted_and_rolled_back(  # type: ignore[no-untyped-def]
    shoal, model_file: Path
) -> None:
    shoal("tenants", "create", "acme")
    sample = str(model_file.parent / "sample.csv")
    for _ in range(2):
        shoal(
            "models",
            "register",
            "acme/churn",
            "--file",
            str(model_file),
            "--sample",
            sample,
            "--metric",
            "auc=0.9",
            "--param",
            "C=1",
            "--tag",
            "team=growth",
        )
    shown = json.loads(shoal("models", "show", "acme/churn:2", "--output", "json"))
    assert shown["metrics"] == {"auc": 0.9}
    assert shown["params"] == {"C": 1}
    assert [i["name"] for i in shown["signature"]["inputs"]] == ["a", "b", "c"]
    shoal("models", "alias", "acme/churn:1", "production")
    shoal("models", "alias", "acme/churn:2", "production")
    shoal("models", "approve", "acme/churn:2", "--comment", "better")
    shoal("models", "rollback", "acme/churn")
    assert json.loads(shoal("models", "show", "acme/churn", "-o", "json"))["version"] == 1
    history = json.loads(shoal("models", "history", "acme/churn", "-o", "json"))["items"]
    assert [e["action"] for e in history][:2] == ["alias.rolled_back", "approval.set"]
    versions = json.loads(shoal("models", "versions", "acme/churn", "-o", "json"))["items"]
    assert [(v["version"], v["approval"]) for v in versions] == [(2, "approved"), (1, "pending")]


def test_listings_page_with_a_cursor(shoal, model_file: Path) -> None:  # type: ignore[no-untyped-def]
    shoal("tenants", "create", "acme")
    for name in ("a", "b", "c"):
        shoal("models", "register", f"acme/{name}", "--file", str(model_file))
    first = json.loads(shoal("models", "list", "--limit", "2", "-o", "json"))
    second = json.loads(
        shoal("models", "list", "--limit", "2", "--cursor", first["next_cursor"], "-o", "json")
    )
    names = [m["name"] for m in first["items"] + second["items"]]
    assert names == ["a", "b", "c"]
    assert second["next_cursor"] is None
    assert "more: --cursor" in shoal("models", "list", "--limit", "2")


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("models", "show", "acme/nope"), 3, "model acme/nope does not exist"),
        (("models", "show", "Acme/x"), 2, "lower-case"),
        (("tenants", "create", "acme"), 4, "already exists"),
        (("models", "register", "acme/x", "--file", "missing.skops"), 2, "does not exist"),
        (
            ("models", "register", "acme/x", "--file", "m.skops", "--metric", "auc=high"),
            2,
            "must be a number",
        ),
    ],
)
def test_bad_input_gives_a_clear_message_and_its_exit_code(  # type: ignore[no-untyped-def]
    shoal, args: tuple[str, ...], code: int, message: str
) -> None:
    shoal("tenants", "create", "acme")
    assert message in shoal(*args, code=code)


def test_deleting_asks_unless_told_yes(shoal, model_file: Path) -> None:  # type: ignore[no-untyped-def]
    shoal("tenants", "create", "acme")
    shoal("models", "register", "acme/churn", "--file", str(model_file))
    shoal("models", "delete", "acme/churn:1", "--yes")
    assert json.loads(shoal("models", "list", "-o", "json"))["items"][0]["latest_version"] == 1
    shoal("models", "show", "acme/churn:1", code=3)


def test_verify_catches_a_corrupt_artifact_with_exit_code_6(  # type: ignore[no-untyped-def]
    shoal, model_file: Path, tmp_path: Path
) -> None:
    shoal("tenants", "create", "acme")
    shoal(
        "models",
        "register",
        "acme/churn",
        "--file",
        str(model_file),
        "--run-id",
        "run-7",
        "--snapshot-id",
        "snap-1",
    )
    version = json.loads(shoal("models", "show", "acme/churn", "-o", "json"))
    assert version["lineage"] == {"run_id": "run-7", "snapshot_id": "snap-1"}
    assert "verified" in shoal("models", "verify", "acme/churn:1")
    [blob] = (tmp_path / "home" / "artifacts").rglob(version["artifact"]["digest"])
    blob.write_bytes(b"tampered" + blob.read_bytes()[8:])
    assert "is corrupt: its bytes hash to" in shoal("models", "verify", "acme/churn:1", code=6)


def test_batch_scoring_writes_one_prediction_per_row(  # type: ignore[no-untyped-def]
    shoal, tmp_path: Path
) -> None:
    x = np.random.default_rng(5).normal(size=(1000, 3))
    model = fit_classifier(x)
    dump(model, tmp_path / "m.skops")
    pd.DataFrame(x[:5], columns=["a", "b", "c"]).to_csv(tmp_path / "sample.csv", index=False)
    pd.DataFrame(x, columns=["a", "b", "c"]).to_parquet(tmp_path / "in.parquet")
    shoal("tenants", "create", "acme")
    shoal(
        "models",
        "register",
        "acme/churn",
        "--file",
        str(tmp_path / "m.skops"),
        "--sample",
        str(tmp_path / "sample.csv"),
    )
    out = shoal(
        "predict",
        "acme/churn",
        "--input",
        str(tmp_path / "in.parquet"),
        "--output",
        str(tmp_path / "out.parquet"),
        "--chunk-rows",
        "300",
        "--keep-columns",
    )
    assert "scored 1,000 rows" in out
    scored = pd.read_parquet(tmp_path / "out.parquet")
    assert list(scored.columns) == ["a", "b", "c", "label", "probabilities_0", "probabilities_1"]
    np.testing.assert_array_equal(scored["label"], model.predict(x))
    shoal(
        "predict",
        "acme/churn",
        "--input",
        str(tmp_path / "missing.parquet"),
        "--output",
        str(tmp_path / "o.parquet"),
        code=2,
    )


def test_keys_are_created_once_listed_without_secrets_and_revoked(shoal) -> None:  # type: ignore[no-untyped-def]
    shoal("tenants", "create", "acme")
    created = json.loads(shoal("keys", "create", "ci", "--tenant", "acme", "-o", "json"))
    token = created["token"]
    assert token.startswith("shoal_")
    listing = shoal("keys", "list", "-o", "json")
    assert token not in listing
    [key] = json.loads(listing)["items"]
    assert (key["scope"], key["tenant"], key["revoked_at"]) == ("tenant", "acme", None)
    assert "revoked key" in shoal("keys", "revoke", key["id"])
    assert json.loads(shoal("keys", "list", "-o", "json"))["items"][0]["revoked_at"]
    assert "give --tenant NAME" in shoal("keys", "create", "x", code=2)


def test_plans_are_set_shown_and_usage_reported(shoal) -> None:  # type: ignore[no-untyped-def]
    shoal("tenants", "create", "acme")
    shoal("plans", "set", "acme", "--rate", "5", "--burst", "10", "--per-day", "1000")
    plan = json.loads(shoal("plans", "show", "acme", "-o", "json"))
    assert (plan["rate_per_s"], plan["burst"], plan["quota_per_day"]) == (5.0, 10, 1000)
    usage = json.loads(shoal("plans", "usage", "acme", "-o", "json"))
    assert {(u["window"], u["used"], u["limit"]) for u in usage} == {
        ("day", 0, 1000),
        ("month", 0, None),
    }
    shoal("plans", "show", "nobody", code=3)
