"""The serving workload: a per-tenant model mix registered in a Shoal home, and Zipf traffic.

Every tenant ``tNNNNN`` owns one model ``m``, a third each of logistic regression, gradient-boosted
trees (100 trees, depth 3) and isolation forest (50 trees), all on 16 float features. Training
and converting 10,000 models would take the benchmark longer than serving them, so a small pool
of base models is trained once and each tenant gets a copy of one of them:

- ``shared`` (default): each base model is registered once the way a user registers it
  (``verify=True``: reload check, signature, and the verified ONNX fast path, which costs up to
  ~3 s for an isolation forest); every other tenant's version is recorded in the metadata store
  pointing at its base model's artifact (what an import of identical files does: content
  addressing stores the bytes once). The server still loads and accounts one model per tenant.
- ``distinct``: every tenant's copy gets distinct bytes (its own artifact) and is registered with
  ``verify=False``, so it has no fast path and no signature; ~0.1 s and ~1.4 MB per model on
  average, so only for small N.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from shoal.client import Client
from shoal.registry.packager import RegistrationRequest
from shoal.registry.records import ModelVersion, VersionDraft
from shoal.registry.refs import ModelRef

FEATURES = 16
KINDS = ("logistic", "gbt100", "iforest50")
BATCH = 500


@dataclass(frozen=True, slots=True)
class BaseModel:
    kind: str
    model: object


@dataclass(frozen=True, slots=True)
class Registered:
    """What the registration phase produced and what it cost (not part of the serving figures)."""

    tenants: list[str]
    kinds: list[str]  # kind of tenant i's model
    artifact_bytes: list[int]  # package size of tenant i's model
    tenants_s: float
    base_s: float
    copies_s: float
    mode: str
    fast_path: dict[str, str]  # kind -> the registry's fast_path tag(s) of its models

    @property
    def total_s(self) -> float:
        return self.tenants_s + self.base_s + self.copies_s


def tenant_name(i: int) -> str:
    return f"t{i:05d}"


def training_data(seed: int) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(600, FEATURES))
    w = rng.normal(size=FEATURES)
    y = (x @ w + rng.normal(scale=0.5, size=len(x)) > 0).astype(np.int64)
    return x, y


def train_pool(per_kind: int) -> list[BaseModel]:
    """``per_kind`` models of each kind, interleaved so that tenant i's kind is ``KINDS[i % 3]``."""
    from sklearn.ensemble import GradientBoostingClassifier, IsolationForest
    from sklearn.linear_model import LogisticRegression

    pool = []
    for i in range(per_kind):
        x, y = training_data(seed=i)
        pool.append(BaseModel("logistic", LogisticRegression().fit(x, y)))
        gbt = GradientBoostingClassifier(n_estimators=100, max_depth=3, random_state=i)
        pool.append(BaseModel("gbt100", gbt.fit(x, y)))
        pool.append(BaseModel("iforest50", IsolationForest(n_estimators=50, random_state=i).fit(x)))
    return pool


def sample_rows(n: int = 4) -> NDArray[np.float64]:
    return training_data(seed=10_000)[0][:n]


def _batches(n: int, start: int = 0) -> Iterator[range]:
    for first in range(start, n, BATCH):
        yield range(first, min(n, first + BATCH))


def register(client: Client, n: int, pool: list[BaseModel], mode: str) -> Registered:
    """Create ``n`` tenants and register one model each; see the module docstring for ``mode``."""
    began = time.perf_counter()
    tenants = [tenant_name(i) for i in range(n)]
    for name in tenants:
        client.create_tenant(name)
    tenants_s = time.perf_counter() - began
    kinds = [pool[i % len(pool)].kind for i in range(n)]
    if mode == "shared":
        sizes, base_s, copies_s, fast = _register_shared(client, n, pool)
    elif mode == "distinct":
        sizes, base_s, copies_s = _register_distinct(client, n, pool)
        fast = dict.fromkeys(KINDS, "none (verify=False)")
    else:
        raise ValueError(f"unknown registration mode {mode!r}")
    return Registered(tenants, kinds, sizes, tenants_s, base_s, copies_s, mode, fast)


def _register_shared(
    client: Client, n: int, pool: list[BaseModel]
) -> tuple[list[int], float, float, dict[str, str]]:
    began = time.perf_counter()
    bases: list[ModelVersion] = client.register_many(
        [
            RegistrationRequest(
                ref=ModelRef(tenant_name(i), "m"), model=pool[i].model, sample_input=sample_rows()
            )
            for i in range(min(n, len(pool)))
        ]
    )
    base_s = time.perf_counter() - began
    began = time.perf_counter()
    now = datetime.now(UTC)
    store = client.services.store
    for batch in _batches(n, start=len(bases)):
        drafts = []
        for i in batch:
            base = bases[i % len(pool)]
            drafts.append(
                VersionDraft(
                    tenant_name(i),
                    "m",
                    base.format,
                    base.artifact,
                    base.signature,
                    now,
                    "bench",
                    tags=dict(base.tags),
                )
            )
        store.add_versions(drafts)
    copies_s = time.perf_counter() - began
    sizes = [bases[i % len(pool)].artifact.size for i in range(n)]
    tags: dict[str, set[str]] = {}
    for i, base in enumerate(bases):
        tags.setdefault(pool[i].kind, set()).add(base.tags.get("fast_path", "none"))
    return sizes, base_s, copies_s, {kind: ",".join(sorted(v)) for kind, v in tags.items()}


def _register_distinct(
    client: Client, n: int, pool: list[BaseModel]
) -> tuple[list[int], float, float]:
    began = time.perf_counter()
    sizes: list[int] = []
    for batch in _batches(n):
        requests = []
        for i in batch:
            model = copy.copy(pool[i % len(pool)].model)
            model.random_state = 1_000_000 + i  # type: ignore[attr-defined]  # distinct bytes
            requests.append(
                RegistrationRequest(
                    ref=ModelRef(tenant_name(i), "m"),
                    model=model,
                    sample_input=sample_rows(),
                    verify=False,
                )
            )
        sizes += [version.artifact.size for version in client.register_many(requests)]
    return sizes, 0.0, time.perf_counter() - began


def zipf_ranks(n: int, s: float, count: int, seed: int) -> NDArray[np.int64]:
    """``count`` model indices drawn from Zipf(s) over ``n`` models; rank order is shuffled so the
    hot models are a mix of kinds rather than the first tenants."""
    rng = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, n + 1, dtype=np.float64) ** s
    cdf = np.cumsum(weights / weights.sum())
    ranks = np.minimum(np.searchsorted(cdf, rng.random(count)), n - 1)
    order = rng.permutation(n)
    return order[ranks].astype(np.int64)


def infer_body() -> bytes:
    """One row of 16 FP64 features as an Open Inference Protocol V2 JSON request."""
    row = [round(float(v), 6) for v in sample_rows(1)[0]]
    tensor = {"name": "input", "datatype": "FP64", "shape": [1, FEATURES], "data": row}
    return json.dumps({"inputs": [tensor]}).encode()


def write_paths(
    file: Path,
    names: list[str],
    picks: NDArray[np.int64],
    template: str,
    tokens: list[str] | None = None,
) -> Path:
    """The request paths wrk replays, one a line (``template`` takes ``{name}``); with
    ``tokens`` (one per name), each line also carries the API key to call that model with."""
    paths = [template.format(name=name) for name in names]
    if tokens is not None:
        paths = [f"{path} {token}" for path, token in zip(paths, tokens, strict=True)]
    file.write_text("".join(paths[i] + "\n" for i in picks))
    return file


@dataclass(frozen=True)
class KeyedTenants:
    """N tenants with one model each, a key and a plan that never refuses; wrk's Zipf paths
    without keys (``plain``) and with each tenant's key (``keyed``)."""

    names: list[str]
    tokens: list[str]
    plain: Path
    keyed: Path


INFER_TEMPLATE = "/v2/models/{name}/infer"


def keyed_tenants(client: Client, models: int, work: Path, sequence: int) -> KeyedTenants:
    """Register ``models`` tenants' models (the realistic mix), keys and plans; write the paths."""
    registered = register(client, models, train_pool(4), "shared")
    tokens = []
    for tenant in registered.tenants:
        tokens.append(client.create_key("bench", tenant=tenant)[1])
        client.set_plan(tenant, rate_per_s=1e6, burst=1_000_000, quota_per_day=10**12)
    names = [f"{tenant}/m" for tenant in registered.tenants]
    picks = zipf_ranks(models, 1.1, sequence, seed=1)
    plain = write_paths(work / "plain.txt", names, picks, INFER_TEMPLATE)
    keyed = write_paths(work / "keyed.txt", names, picks, INFER_TEMPLATE, tokens)
    return KeyedTenants(names, tokens, plain, keyed)
