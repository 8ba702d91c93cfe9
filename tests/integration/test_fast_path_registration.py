from collections.abc import Iterator
from pathlib import Path

import numpy as np
import onnxruntime
import pytest
from numpy.typing import NDArray
from sklearn.ensemble import GradientBoostingClassifier, IsolationForest, RandomForestRegressor
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import NearestCentroid
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from shoal.client import Client
from shoal.registry.loader import QUICK_LOAD_BYTES, ModelLoader
from shoal.runtimes.base import LoadOptions
from shoal.runtimes.compact_common import CompactModel
from shoal.runtimes.estimators import EstimatorModel
from shoal.runtimes.fast_path import FAST_DIR, FastModel, Tolerance
from shoal.settings import Settings
from shoal.wiring import Services, build_services

TOLERANCE = Tolerance()


@pytest.fixture
def services(settings: Settings) -> Iterator[Services]:
    built = build_services(settings)
    yield built
    built.close()


@pytest.fixture
def shoal(services: Services) -> Client:
    client = Client(services=services, actor="tester")
    client.create_tenant("acme")
    return client


def _data() -> tuple[NDArray[np.float64], NDArray[np.int64], NDArray[np.float64]]:
    rng = np.random.default_rng(7)
    x = rng.normal(size=(600, 16))
    labels = (x[:, 0] + 0.5 * x[:, 1] + 0.3 * rng.normal(size=600) > 0).astype(np.int64)
    target = x @ rng.normal(size=16) + 0.1 * rng.normal(size=600)
    return x, labels, target


def _fitted(name: str) -> object:
    x, labels, target = _data()
    if name == "logistic":
        return LogisticRegression().fit(x, labels)
    if name == "isolation-forest":
        return IsolationForest(n_estimators=50, random_state=0).fit(x)
    if name == "gradient-boosting":
        return GradientBoostingClassifier(n_estimators=100, random_state=0).fit(x, labels)
    if name == "random-forest-regressor":
        return RandomForestRegressor(n_estimators=30, random_state=0).fit(x, target)
    return make_pipeline(StandardScaler(), LogisticRegression()).fit(x, labels)


def _package(shoal: Client, services: Services, ref: str) -> Path:
    return services.loader.materialise(shoal.get_version(ref))


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("logistic", "compact"),
        ("isolation-forest", "compact"),
        ("gradient-boosting", "compact"),
        ("random-forest-regressor", "onnx"),
        ("pipeline", "onnx"),
    ],
)
def test_a_registered_sklearn_model_serves_from_its_fast_path_with_the_same_outputs(
    shoal: Client, services: Services, name: str, kind: str
) -> None:
    x, _, _ = _data()
    version = shoal.register(f"acme/{name}", _fitted(name), sample_input=x[:5])
    assert version.tags["fast_path"] == kind, version.tags["fast_path_reason"]
    folder = _package(shoal, services, f"acme/{name}:1")

    runtime = services.runtimes.get("sklearn")
    fast = runtime.load(folder, LoadOptions(prefer_fast=True))
    slow = runtime.load(folder, LoadOptions())
    if kind == "onnx":
        assert (folder / FAST_DIR / "model.onnx").is_file()
        assert isinstance(fast, FastModel)
        assert isinstance(fast.session, onnxruntime.InferenceSession)
    else:
        assert isinstance(fast, CompactModel)
        assert not (folder / FAST_DIR / "model.onnx").exists()
    assert isinstance(slow, EstimatorModel)

    fresh = {"input": np.random.default_rng(99).normal(size=(200, 16))}
    got, want = fast.predict(fresh), slow.predict(fresh)
    assert list(got) == list(want)
    for key, expected in want.items():
        assert got[key].dtype == expected.dtype
        assert got[key].shape == expected.shape
        if key == "label":
            np.testing.assert_array_equal(got[key], expected)
        else:
            np.testing.assert_allclose(got[key], expected, rtol=TOLERANCE.rtol, atol=TOLERANCE.atol)


def test_a_model_the_converter_cannot_take_registers_with_the_reason(
    shoal: Client, services: Services
) -> None:
    x, labels, _ = _data()
    model = NearestCentroid().fit(x, labels)  # skl2onnx has no converter for it
    version = shoal.register("acme/neighbours", model, sample_input=x[:5])
    assert version.tags["fast_path"] == "none"
    assert "cannot convert" in version.tags["fast_path_reason"]
    assert "NearestCentroid" in version.tags["fast_path_reason"]
    folder = _package(shoal, services, "acme/neighbours:1")
    assert not (folder / FAST_DIR).exists()
    # prefer_fast on a package without a fast form is simply the sklearn path.
    loaded = services.runtimes.get("sklearn").load(folder, LoadOptions(prefer_fast=True))
    assert isinstance(loaded, EstimatorModel)
    np.testing.assert_array_equal(loaded.predict({"input": x[:20]})["label"], model.predict(x[:20]))


def test_registration_without_a_sample_or_verification_records_no_fast_path(
    shoal: Client, services: Services
) -> None:
    x, _, _ = _data()
    model = _fitted("logistic")
    no_sample = shoal.register("acme/plain", model, tags={"team": "ml"})
    unverified = shoal.register("acme/plain", model, sample_input=x[:5], verify=False)
    assert no_sample.tags == {"team": "ml"}
    assert "fast_path" not in unverified.tags
    assert not (_package(shoal, services, "acme/plain:2") / FAST_DIR).exists()


def test_user_tags_are_kept_beside_the_fast_path_tags(shoal: Client) -> None:
    x, _, _ = _data()
    version = shoal.register(
        "acme/tagged", _fitted("logistic"), sample_input=x[:5], tags={"team": "ml"}
    )
    assert version.tags["team"] == "ml"
    assert version.tags["fast_path"] == "compact"
    assert version.tags["fast_path_reason"].startswith("verified on")


def test_the_loader_knows_which_loads_are_quick(
    shoal: Client, services: Services, tmp_path: Path
) -> None:
    x, _, _ = _data()
    compact_version = shoal.register("acme/quick", _fitted("logistic"), sample_input=x[:5])
    graph_version = shoal.register("acme/graph", _fitted("pipeline"), sample_input=x[:5])
    cache = tmp_path / "serving-cache"
    fast = ModelLoader(services.artifacts, services.runtimes, cache, LoadOptions(prefer_fast=True))
    assert not fast.loads_quickly(compact_version)  # not unpacked here yet: a fetch first
    fast.materialise(compact_version)
    fast.materialise(graph_version)
    assert fast.loads_quickly(compact_version)
    assert not fast.loads_quickly(graph_version)  # an onnxruntime session takes its time
    forest = IsolationForest(n_estimators=400, max_samples=600, random_state=0).fit(x)
    big_version = shoal.register("acme/big-forest", forest, sample_input=x[:5])
    big = fast.materialise(big_version) / FAST_DIR / "compact.bin"
    assert big_version.tags["fast_path"] == "compact"
    assert big.stat().st_size > QUICK_LOAD_BYTES
    assert not fast.loads_quickly(big_version)  # over 1 MiB: loaded on a thread
    plain = ModelLoader(services.artifacts, services.runtimes, cache, LoadOptions())
    assert not plain.loads_quickly(compact_version)  # it would load through skops
