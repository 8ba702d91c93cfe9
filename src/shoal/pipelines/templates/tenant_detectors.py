"""An anomaly detector per tenant: each tenant's stream frozen, trained, scored, registered.

The demo runs it (``shoal.pipelines.templates.tenant_detectors:tenant_detectors``); each item
snapshots its tenant's 5-minute counts, so a version's lineage names both the run and the exact
data it was trained on, and ``shoal runs rerun`` trains on the same data again.
"""

from __future__ import annotations

import functools
import zlib

import numpy as np
import pandas as pd

from shoal.pipelines.context import log_metric, register_model, snapshot_frame
from shoal.pipelines.dsl import each, pipeline, step
from shoal.registry.records import ApprovalStatus
from shoal.solutions.anomaly.bank_calls import load_bank_calls, tenant_streams
from shoal.solutions.anomaly.detector import inject_anomalies, score_detector, train_detector
from shoal.solutions.anomaly.features import bucket_features

N_ESTIMATORS = 50
CONTAMINATION = 0.04


@functools.cache
def bank_call_streams() -> dict[str, pd.Series]:
    """Every tenant stream of fpp3::bank_calls, loaded once per process (workers inherit it)."""
    return tenant_streams(load_bank_calls())


@step
def bank_call_tenants(limit: int) -> list[str]:
    """The first ``limit`` tenant streams (each day's morning and afternoon)."""
    return list(bank_call_streams())[:limit]


@step
def train_tenant_detector(tenant: str, seed: int, model: str) -> dict[str, float]:
    """Freeze the tenant's counts, fit an isolation forest, score it, register it."""
    frame = snapshot_frame("calls", bank_call_streams()[tenant].to_frame)
    counts = frame["calls"]
    detector = train_detector(counts, seed=seed)
    rng = np.random.default_rng([seed, zlib.crc32(tenant.encode())])
    injected, labels = inject_anomalies(counts, rng)
    score = score_detector(detector, injected, labels)
    metrics = {
        "precision": score.precision,
        "recall": score.recall,
        "f1": score.f1,
        "train_buckets": float(len(counts)),
    }
    for name, value in metrics.items():
        log_metric(name, value)
    register_model(
        f"{tenant}/{model}",
        detector,
        sample_input=bucket_features(counts).head(8),
        params={"n_estimators": N_ESTIMATORS, "contamination": CONTAMINATION, "seed": seed},
        metrics=metrics,
        tags={"solution": "log-anomaly", "dataset": "fpp3::bank_calls"},
        description="IsolationForest over 5-minute bucket features",
        aliases=("production",),
        approval=ApprovalStatus.APPROVED,
    )
    return metrics


@pipeline
def tenant_detectors(limit: int = 300, seed: int = 7, model: str = "log-anomaly") -> None:
    """Train and register one log-anomaly detector per bank_calls tenant stream."""
    tenants = bank_call_tenants(limit)
    train_tenant_detector.map(tenant=each(tenants), seed=seed, model=model)
