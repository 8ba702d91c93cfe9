"""Train and score a per-tenant anomaly detector; inject labelled anomalies to measure it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.ensemble import IsolationForest

from shoal.solutions.anomaly.features import bucket_features


@dataclass(frozen=True, slots=True)
class DetectorScore:
    """How well a detector finds injected anomalies."""

    precision: float
    recall: float
    f1: float


def inject_anomalies(
    counts: pd.Series, rng: np.random.Generator, rate: float = 0.04
) -> tuple[pd.Series, np.ndarray]:
    """A copy of ``counts`` with spikes and drop-outs at random buckets, and their 0/1 labels."""
    values = counts.to_numpy(dtype="float64").copy()
    labels = np.zeros(len(values), dtype=np.int64)
    n = max(1, int(len(values) * rate))
    positions = rng.choice(np.arange(1, len(values)), size=n, replace=False)
    for position in positions:
        level = max(values[max(0, position - 6) : position].mean(), 1.0)
        values[position] = level * rng.uniform(3.0, 5.0) if rng.random() < 0.6 else 0.0
        labels[position] = 1
    return pd.Series(values, index=counts.index, name=counts.name), labels


def train_detector(counts: pd.Series, seed: int = 0) -> IsolationForest:
    """An isolation forest fitted on one tenant's (assumed mostly normal) history."""
    detector = IsolationForest(n_estimators=50, contamination=0.04, random_state=seed)
    detector.fit(bucket_features(counts))
    return detector


def score_detector(
    detector: IsolationForest, counts: pd.Series, labels: np.ndarray
) -> DetectorScore:
    """Precision, recall and F1 of ``detector`` on ``counts`` against the known ``labels``."""
    flagged = detector.predict(bucket_features(counts)) == -1
    truth = labels.astype(bool)
    hits = int((flagged & truth).sum())
    precision = hits / flagged.sum() if flagged.any() else 0.0
    recall = hits / truth.sum() if truth.any() else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return DetectorScore(float(precision), float(recall), float(f1))
