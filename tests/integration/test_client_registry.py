from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray
from sklearn.ensemble import IsolationForest

from shoal.client import Client
from shoal.errors import (
    ConflictError,
    CorruptArtifactError,
    NotFoundError,
    UnsupportedModelError,
    ValidationError,
)
from shoal.registry.records import ApprovalStatus, AuditAction
from shoal.runtimes.signature import TensorSpec
from shoal.settings import Settings
from tests.integration.conftest import fit_classifier


def test_a_registered_model_predicts_exactly_as_the_original(
    client: Client, features: NDArray[np.float64]
) -> None:
    model = fit_classifier(features)
    version = client.register("acme/churn", model, sample_input=features[:5], metrics={"auc": 0.9})
    assert version.version == 1
    assert version.format == "sklearn"
    assert version.signature.inputs == (TensorSpec("input", "FP64", (-1, 4)),)
    assert {spec.name for spec in version.signature.outputs} == {"label", "probabilities"}
    outputs = client.predict("acme/churn:1", features)
    np.testing.assert_array_equal(outputs["label"], model.predict(features))
    np.testing.assert_array_equal(outputs["probabilities"], model.predict_proba(features))


def test_versions_are_numbered_per_model_and_record_their_metadata(
    client: Client, features: NDArray[np.float64]
) -> None:
    for seed in range(3):
        client.register("acme/churn", fit_classifier(features, seed), params={"C": 1.0 + seed})
    client.register("acme/other", IsolationForest(n_estimators=5, random_state=0).fit(features))
    versions = client.list_versions("acme/churn").items
    assert [v.version for v in versions] == [3, 2, 1]
    assert versions[0].params == {"C": 3.0}
    assert versions[0].created_by == "tester"
    assert client.get_model("acme/churn").latest_version == 3
    assert client.get_version("acme/other").version == 1


def test_a_ref_without_version_prefers_production_then_approved_then_latest(
    client: Client, features: NDArray[np.float64]
) -> None:
    for seed in range(3):
        client.register("acme/churn", fit_classifier(features, seed))
    assert client.get_version("acme/churn").version == 3
    client.approve("acme/churn:2")
    assert client.get_version("acme/churn").version == 2
    client.set_alias("acme/churn:1", "production")
    assert client.get_version("acme/churn").version == 1
    assert client.get_version("acme/churn@production").version == 1


def test_rejected_versions_are_never_picked_implicitly(
    client: Client, features: NDArray[np.float64]
) -> None:
    client.register("acme/churn", fit_classifier(features))
    client.reject("acme/churn:1", comment="leaks the label")
    with pytest.raises(NotFoundError, match="no version that is not rejected"):
        client.get_version("acme/churn")
    assert client.get_version("acme/churn:1").approval is ApprovalStatus.REJECTED


def test_rollback_walks_back_through_the_alias_history(
    client: Client, features: NDArray[np.float64]
) -> None:
    for seed in range(4):
        version = client.register("acme/churn", fit_classifier(features, seed))
        client.set_alias(version.ref, "production")
    assert client.get_version("acme/churn@production").version == 4
    client.rollback("acme/churn")
    assert client.get_version("acme/churn@production").version == 3
    client.rollback("acme/churn")
    assert client.get_version("acme/churn@production").version == 2
    client.rollback("acme/churn", to=4)
    assert client.get_version("acme/churn@production").version == 4
    events = client.history("acme/churn", alias="production").items
    assert events[0].action is AuditAction.ALIAS_ROLLED_BACK
    assert (events[0].previous_version, events[0].version) == (2, 4)
    assert events[0].actor == "tester"


def test_rollback_without_an_earlier_version_is_a_conflict(
    client: Client, features: NDArray[np.float64]
) -> None:
    version = client.register("acme/churn", fit_classifier(features), aliases=["production"])
    assert version.aliases == ("production",)
    with pytest.raises(ConflictError, match="no earlier version"):
        client.rollback("acme/churn")


def test_deleting_an_aliased_version_is_refused_and_deleting_a_model_frees_its_artifacts(
    client: Client, settings: Settings, features: NDArray[np.float64]
) -> None:
    version = client.register("acme/churn", fit_classifier(features), aliases=["production"])
    with pytest.raises(ConflictError, match="production"):
        client.delete("acme/churn:1")
    client.delete("acme/churn")
    with pytest.raises(NotFoundError, match="model acme/churn does not exist"):
        client.get_version("acme/churn")
    blobs = [p for p in (settings.home / "artifacts").rglob("*") if p.is_file()]
    assert version.artifact.digest not in {p.name for p in blobs}


@pytest.mark.parametrize(
    ("ref", "error", "message"),
    [
        ("nobody/churn", NotFoundError, "tenant 'nobody' does not exist"),
        ("acme/churn:2", ValidationError, "without a version or alias"),
        ("acme/a..b", ValidationError, "must not contain '..'"),
    ],
)
def test_failed_registrations_leave_no_row_and_no_artifact(
    client: Client,
    settings: Settings,
    features: NDArray[np.float64],
    ref: str,
    error: type[Exception],
    message: str,
) -> None:
    with pytest.raises(error, match=message):
        client.register(ref, fit_classifier(features))
    assert client.list_models().items == ()
    assert not [p for p in (settings.home / "artifacts").rglob("*") if p.is_file()]


def test_an_unsupported_object_is_refused_with_its_type(client: Client) -> None:
    with pytest.raises(UnsupportedModelError, match="dict"):
        client.register("acme/churn", {"weights": [1, 2]})
    assert client.list_models().items == ()


def test_a_corrupt_artifact_is_detected_on_load(
    client: Client, settings: Settings, features: NDArray[np.float64]
) -> None:
    version = client.register("acme/churn", fit_classifier(features))
    [blob] = list((settings.home / "artifacts").rglob(version.artifact.digest))
    blob.write_bytes(blob.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(CorruptArtifactError, match=version.artifact.digest):
        client.load("acme/churn:1")


def test_pickle_needs_an_explicit_trust_flag(client: Client, tmp_path: Path) -> None:
    import joblib

    path = tmp_path / "model.joblib"
    joblib.dump(fit_classifier(np.random.default_rng(1).normal(size=(50, 4))), path)
    with pytest.raises(UnsupportedModelError, match="trust"):
        client.register("acme/legacy", path=path)
    version = client.register("acme/legacy", path=path, trust=True)
    assert version.format == "pickle"
    assert client.load("acme/legacy", trust=True).version.version == 1


def test_an_onnx_file_registers_with_the_signature_of_its_graph(
    client: Client, tmp_path: Path, features: NDArray[np.float64]
) -> None:
    from skl2onnx import to_onnx

    model = fit_classifier(features)
    proto = to_onnx(model, features[:1].astype(np.float32), options={"zipmap": False})
    path = tmp_path / "churn.onnx"
    path.write_bytes(proto.SerializeToString())
    version = client.register("acme/churn", path=path)
    assert version.format == "onnx"
    assert version.signature.inputs[0].datatype == "FP32"
    outputs = client.predict("acme/churn", features.astype(np.float32))
    np.testing.assert_array_equal(outputs["label"], model.predict(features))


def test_a_folder_tree_imports_one_version_per_model_and_reports_bad_folders(
    client: Client, tmp_path: Path, features: NDArray[np.float64]
) -> None:
    import json

    from skops.io import dump

    root = tmp_path / "export"
    for tenant in ("acme", "globex"):
        folder = root / tenant / "churn"
        folder.mkdir(parents=True)
        dump(fit_classifier(features), folder / "model.skops")
        (folder / "shoal-model.json").write_text(
            json.dumps({"metrics": {"auc": 0.8}, "aliases": ["production"]})
        )
    (root / "acme" / "broken").mkdir()
    (root / "acme" / "broken" / "model.skops").write_bytes(b"not a model")
    client.create_tenant("globex")
    report = client.import_tree(root)
    assert sorted(v.ref for v in report.registered) == ["acme/churn:1", "globex/churn:1"]
    assert [p.path.name for p in report.problems] == ["broken"]
    assert client.get_version("globex/churn@production").metrics == {"auc": 0.8}
