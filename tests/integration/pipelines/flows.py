"""Pipelines the integration tests run by reference (module and file references alike)."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from shoal.pipelines import (
    each,
    log_metric,
    pipeline,
    register_model,
    snapshot_files,
    step,
)


def effect(folder: str, line: str) -> None:
    """One side effect: a line appended to ``folder/effects.log`` (atomic, O_APPEND)."""
    fd = os.open(Path(folder) / "effects.log", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{line}\n".encode())
    finally:
        os.close(fd)


def effects(folder: str) -> list[str]:
    path = Path(folder) / "effects.log"
    return path.read_text().splitlines() if path.exists() else []


@step
def items(count: int) -> list[str]:
    return [f"i{n:04d}" for n in range(count)]


@step
def work(name: str, folder: str, delay_ms: int) -> int:
    effect(folder, name)
    time.sleep(delay_ms / 1000)
    log_metric("delay_ms", delay_ms)
    sys.stdout.write(f"worked on {name}\n")  # what print() does
    return int(name[1:]) * 2


@step
def total(values: list[int]) -> int:
    return sum(values)


@pipeline
def fan_out(folder: str, count: int = 20, delay_ms: int = 0) -> None:
    """Items that each leave one side effect; their doubled numbers summed."""
    total(work.map(name=each(items(count)), folder=folder, delay_ms=delay_ms))


@step
def tenant_data(tenant: str, folder: str) -> pd.DataFrame:
    frozen = snapshot_files(f"{tenant}-calls", Path(folder) / f"{tenant}.csv")
    return pd.read_csv(frozen / f"{tenant}.csv")


@step
def train(tenant: str, frame: pd.DataFrame, seed: int) -> str:
    from sklearn.ensemble import IsolationForest  # only here: Ray workers start faster

    features = frame[["calls"]].to_numpy(dtype=np.float64)
    model = IsolationForest(n_estimators=5, random_state=seed).fit(features)
    log_metric("rows", len(frame))
    version = register_model(
        f"{tenant}/detector", model, sample_input=features[:4], metrics={"rows": len(frame)}
    )
    again = register_model(f"{tenant}/detector", model, sample_input=features[:4])
    assert again.ref == version.ref  # registering twice in one run keeps one version
    return version.ref


@pipeline
def tenant_models(folder: str, tenants: list[str], seed: int = 0) -> None:
    """Per tenant: freeze its CSV, train a detector on it, register it with lineage."""
    frames = tenant_data.map(tenant=each(tenants), folder=folder)
    train.map(tenant=each(tenants), frame=each(frames), seed=seed)
