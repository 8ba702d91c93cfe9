"""Single-row predict latency, load time and memory: the sklearn (skops) path vs the fast paths.

For each model (16 float features): save it as the sklearn runtime does, then for each fast form
(the compact arrays, and the ONNX graph registration would otherwise take) convert and verify it
as registration does (timed: that is what the fast path adds to a registration), load the
package (timed, best of ``--loads``: what a cache miss pays) and time ``predict`` on one row, one
thread, ``--calls`` calls after a warm-up, each call on a different pre-generated row.

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
from shoal.runtimes.fast_path import convert, write
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


def load_ms(runtime: SklearnRuntime, folder: Path, options: LoadOptions, loads: int) -> float:
    best = float("inf")
    for _ in range(loads):
        began = time.perf_counter()
        runtime.load(folder, options)
        best = min(best, (time.perf_counter() - began) * 1000)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--loads", type=int, default=50)
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    x = rng.normal(size=(2000, FEATURES))
    y = (x[:, 0] + 0.5 * x[:, 1] + 0.3 * rng.normal(size=2000) > 0).astype(np.int64)
    rows = rng.normal(size=(args.calls, FEATURES))
    runtime = SklearnRuntime()

    header = (
        f"{'model':<30} {'form':>13} {'convert ms':>10} {'load ms':>8} {'p50':>7} {'p99':>7} "
        f"{'speed-up p50':>12} {'p99':>6} {'KB':>6}"
    )
    print(f"single-row predict, microseconds, {args.calls} calls after {args.warmup} warm-up;")
    print(f"load: best of {args.loads}; KB: the footprint the serving cache charges")
    print(header)
    print("-" * len(header))
    for name, build in models(x, y).items():
        model = build()
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp) / "sklearn"
            folder.mkdir()
            runtime.save(model, folder)
            slow = runtime.load(folder, LoadOptions())
            slow_us = latencies(slow, rows, args.warmup)
            s50, s99 = statistics.median(slow_us), percentile(slow_us, 99)
            slow_load = load_ms(runtime, folder, LoadOptions(), max(1, args.loads // 10))
            print(
                f"{name:<30} {'sklearn':>13} {'':>10} {slow_load:>8.2f} {s50:>7.1f} {s99:>7.1f} "
                f"{'':>12} {'':>6} {measure_footprint(slow) / 1024:>6.0f}"
            )
            for compact_forms in (True, False):
                began = time.perf_counter()
                result = convert(model, {"input": x[:5]}, compact_forms=compact_forms)
                convert_ms = (time.perf_counter() - began) * 1000
                if not result.available:
                    print(f"{'':<30} no fast path: {result.reason}")
                    continue
                if compact_forms and result.kind != "compact":
                    continue  # no compact form: the ONNX row below is the same
                target = Path(tmp) / result.kind
                target.mkdir()
                runtime.save(model, target)
                write(target, result)
                fast = runtime.load(target, LoadOptions(prefer_fast=True))
                loaded = load_ms(runtime, target, LoadOptions(prefer_fast=True), args.loads)
                form = f"{result.kind}/{result.input_dtype}" if result.input_dtype else result.kind
                fast_us = latencies(fast, rows, args.warmup)
                f50, f99 = statistics.median(fast_us), percentile(fast_us, 99)
                print(
                    f"{'':<30} {form:>13} {convert_ms:>10.0f} {loaded:>8.2f} {f50:>7.1f} "
                    f"{f99:>7.1f} {s50 / f50:>11.1f}x {s99 / f99:>5.1f}x "
                    f"{measure_footprint(fast) / 1024:>6.0f}"
                )


if __name__ == "__main__":
    main()
