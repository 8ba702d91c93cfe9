"""Single-row predict latency: the sklearn (skops) path vs the verified ONNX fast path.

For each model (16 float features): save it as the sklearn runtime does, convert and verify it
as registration does (timed: that is what the fast path adds to a registration), load the package
both ways and time ``predict`` on one row, one thread, ``--calls`` calls after a warm-up, each
call on a different pre-generated row.

    .venv/bin/python bench/serving/bench_fast_path.py --calls 2000
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from sklearn.ensemble import GradientBoostingClassifier, IsolationForest
from sklearn.linear_model import LogisticRegression

from shoal.runtimes.base import LoadedModel, LoadOptions
from shoal.runtimes.compact_forest import CompactForest
from shoal.runtimes.fast_path import FastModel, convert, write
from shoal.runtimes.sklearn import SklearnRuntime
from shoal.serving.footprint import measure_footprint

FEATURES = 16


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]


def models(x: NDArray[np.float64], y: NDArray[np.int64]) -> dict[str, Callable[[], object]]:
    return {
        "logistic regression": lambda: LogisticRegression().fit(x, y),
        "gradient boosting (100 trees)": lambda: GradientBoostingClassifier(
            n_estimators=100, random_state=0
        ).fit(x, y),
        "isolation forest (50 trees)": lambda: IsolationForest(n_estimators=50, random_state=0).fit(
            x
        ),
    }


def latencies(model: LoadedModel, rows: NDArray[np.float64], warmup: int) -> list[float]:
    for i in range(warmup):
        model.predict({"input": rows[i % len(rows) : i % len(rows) + 1]})
    out = []
    for i in range(len(rows)):
        row = {"input": rows[i : i + 1]}
        began = time.perf_counter()
        model.predict(row)
        out.append((time.perf_counter() - began) * 1e6)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=200)
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    x = rng.normal(size=(2000, FEATURES))
    y = (x[:, 0] + 0.5 * x[:, 1] + 0.3 * rng.normal(size=2000) > 0).astype(np.int64)
    rows = rng.normal(size=(args.calls, FEATURES))
    runtime = SklearnRuntime()

    header = (
        f"{'model':<30} {'form':>8} {'convert ms':>10} {'sklearn p50':>11} {'p99':>8} "
        f"{'fast p50':>9} {'p99':>7} {'speed-up p50':>12} {'p99':>6} {'KB sklearn':>10} "
        f"{'KB fast':>8}"
    )
    print(f"single-row predict, microseconds, {args.calls} calls after {args.warmup} warm-up")
    print(header)
    print("-" * len(header))
    for name, build in models(x, y).items():
        model = build()
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            runtime.save(model, folder)
            began = time.perf_counter()
            result = convert(model, {"input": x[:5]})
            convert_ms = (time.perf_counter() - began) * 1000
            if not result.available:
                print(f"{name:<30} no fast path: {result.reason}")
                continue
            write(folder, result)
            slow = runtime.load(folder, LoadOptions())
            fast = runtime.load(folder, LoadOptions(prefer_fast=True))
            assert isinstance(fast, FastModel | CompactForest)
            slow_kb = measure_footprint(slow) / 1024
            fast_kb = measure_footprint(fast) / 1024
            form = f"{result.kind}/{result.input_dtype}" if result.input_dtype else result.kind
            slow_us = latencies(slow, rows, args.warmup)
            fast_us = latencies(fast, rows, args.warmup)
        s50, s99 = statistics.median(slow_us), percentile(slow_us, 99)
        f50, f99 = statistics.median(fast_us), percentile(fast_us, 99)
        print(
            f"{name:<30} {form:>8} {convert_ms:>10.0f} {s50:>11.1f} {s99:>8.1f} "
            f"{f50:>9.1f} {f99:>7.1f} {s50 / f50:>11.1f}x {s99 / f99:>5.1f}x {slow_kb:>10.0f} "
            f"{fast_kb:>8.0f}"
        )


if __name__ == "__main__":
    main()
