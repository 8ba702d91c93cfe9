"""The serving benchmark's figures: summaries of raw samples, the printed table and the ratios."""

from __future__ import annotations

import argparse
import os
import statistics
from typing import Any

from traffic import percentile

MIB = 2**20
GIB = 2**30
SMALL = 10**6  # "models under 1 MB": the package (artifact) size
MLSERVER_REFERENCE = "issue's reference: ~180-250 req/s, p99 ~400 ms, ~33 s start at 1,000 models"


def cpu_count() -> int:
    return len(os.sched_getaffinity(0))


def cold_figures(ms: list[float], kinds: list[str], sizes: list[int]) -> dict[str, Any]:
    small = [v for v, size in zip(ms, sizes, strict=True) if size < SMALL]
    large = [v for v, size in zip(ms, sizes, strict=True) if size >= SMALL]
    out: dict[str, Any] = {"count": len(ms)}
    for label, samples in (("all", ms), ("under_1MB", small), ("1MB_or_more", large)):
        out[label] = summary(samples)
    out["by_kind"] = {
        kind: summary([v for v, k in zip(ms, kinds, strict=True) if k == kind])
        for kind in sorted(set(kinds))
    }
    return out


def summary(samples: list[float]) -> dict[str, float]:
    if not samples:
        return {"count": 0}
    return {
        "count": len(samples),
        "p50": statistics.median(samples),
        "p90": percentile(samples, 90),
        "p99": percentile(samples, 99),
        "max": max(samples),
    }


def stats_delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    keys = ("hits", "misses", "loads", "evictions", "load_failures", "load_seconds_total")
    out = {key: after[key] - before[key] for key in keys}
    requests = out["hits"] + out["misses"]
    out["hit_ratio"] = out["hits"] / requests if requests else 0.0
    return out


def sizes_by_kind(kinds: list[str], sizes: list[int]) -> dict[str, float]:
    return {
        kind: statistics.median([s for s, k in zip(sizes, kinds, strict=True) if k == kind])
        for kind in sorted(set(kinds))
    }


def _ms(value: Any) -> str:
    return "-" if value is None else f"{value:,.1f} ms"


def _pct(d: dict[str, Any], q: int) -> str:
    return _ms(d.get(f"p{q}")) if d.get("count") else "-"


def _triple(d: dict[str, Any]) -> str:
    return " / ".join(_pct(d, q).removesuffix(" ms") for q in (50, 90, 99)) + " ms"


def _line(label: str, shoal: str, mlserver: str = "", ratio: str = "") -> None:
    print(f"  {label:<44} {shoal:>24} {mlserver:>22} {ratio:>9}")


def print_n(result: dict[str, Any], args: argparse.Namespace) -> None:
    n = result["models"]
    s: dict[str, Any] = result["shoal"]
    ml: dict[str, Any] | None = result.get("mlserver")
    budget = parse_bytes(args.budget)
    wrk, mwrk = s["wrk"], (ml or {}).get("wrk")
    print(
        f"\nN = {n:,} models, Zipf s = {args.zipf}, {args.concurrency} connections, "
        f"{args.duration} s after a {args.warmup} s warm-up, {cpu_count()} CPUs (wrk shares them)"
    )
    if ml:
        print(
            f"MLServer: {ml['version']}, parallel_workers={ml['parallel_workers']}, serving "
            f"{ml['models']:,} of the {n:,} models (it loads every model at start; capped by "
            f"--mlserver-max-models)"
        )
    else:
        print(f"MLServer: not run ({result.get('mlserver_error', 'disabled')})")
    _line("figure", "shoal", "MLServer" if ml else "", "ratio" if ml else "")
    _line(
        "startup (spawn -> ready)",
        f"{s['startup_s']:.2f} s",
        f"{ml['startup_s']:.2f} s" if ml else "",
        f"{ml['startup_s'] / s['startup_s']:.1f}x" if ml else "",
    )
    _line(
        "throughput (wrk)",
        f"{wrk['rps']:,.0f} req/s",
        f"{mwrk['rps']:,.0f} req/s" if mwrk else "",
        f"{wrk['rps'] / mwrk['rps']:.1f}x" if mwrk else "",
    )
    for q in ("50", "90", "99"):
        ours = wrk["percentiles_us"][q] / 1000
        theirs = mwrk["percentiles_us"][q] / 1000 if mwrk else None
        _line(
            f"latency p{q}, all requests (wrk)",
            _ms(ours),
            _ms(theirs) if mwrk else "",
            f"{theirs / ours:.1f}x" if theirs else "",
        )
    errors = sum(wrk[k] for k in ("non200", "timeouts", "connect_errors", "read_errors"))
    _line("non-200 / socket errors (wrk)", f"{errors:,} of {wrk['requests']:,}")
    cache = s["cache_during_wrk"]
    _line("cache hit ratio during the wrk run", f"{cache['hit_ratio']:.4f}")
    _line("loads / evictions during the wrk run", f"{cache['loads']:,} / {cache['evictions']:,}")
    split = s["split"]
    _line(f"hit/miss split: {split['method']}", f"{split['requests']:,} req, {split['rps']:,.0f}/s")
    _line(
        f"  hit p50/p90/p99 ({split['hit_count']:,})",
        _triple({"count": split["hit_count"], **_prefixed(split, "hit")}),
    )
    _line(
        f"  miss p50/p90/p99 ({split['miss_count']:,})",
        _triple({"count": split["miss_count"], **_prefixed(split, "miss")}),
    )
    cold = s["cold"]
    for key, label in (("all", "all"), ("under_1MB", "package < 1 MB"), ("1MB_or_more", ">= 1 MB")):
        part = cold[key]
        _line(
            f"cold load p50/p99, {label} ({part['count']})",
            f"{_pct(part, 50)} / {_pct(part, 99)}".replace(" ms /", " /"),
        )
    for kind, part in cold["by_kind"].items():
        _line(
            f"  {kind} ({part['count']})",
            f"{_pct(part, 50)} / {_pct(part, 99)}".replace(" ms /", " /"),
        )
    firsts = ", ".join(f"{k} {v:,.0f}" for k, v in s["first_load_per_kind_ms"].items())
    _line("first load per kind (pays imports), ms", firsts)
    _line(
        "peak RSS, process tree",
        f"{s['rss_peak'] / MIB:,.0f} MiB",
        f"{ml['rss_peak'] / MIB:,.0f} MiB" if ml else "",
        f"{ml['rss_peak'] / s['rss_peak']:.1f}x" if ml else "",
    )
    state = s["cache"]
    resident, resident_bytes = state["resident_models"], state["resident_bytes"]
    _line(
        "resident models (cache) / budget",
        f"{resident:,} / {budget / GIB:.2f} GiB",
        f"{ml['models']:,} (all)" if ml else "",
    )
    _line("resident model bytes (cache accounting)", f"{resident_bytes / MIB:,.0f} MiB")
    per_gib = resident / (resident_bytes / GIB) if resident_bytes else 0.0
    _line("models per GiB (cache accounting)", f"{per_gib:,.0f}")
    _line(
        "models per GiB of peak RSS",
        f"{resident / (s['rss_peak'] / GIB):,.0f}",
        f"{ml['models'] / (ml['rss_peak'] / GIB):,.0f}" if ml else "",
    )
    sizes = result["registration"]["artifact_bytes_by_kind"]
    _line(
        "package size by kind (median)",
        ", ".join(f"{k} {v / 1e3:,.0f} kB" for k, v in sizes.items()),
    )
    fast = result["registration"]["fast_path_by_kind"]
    _line("fast path (registry tag) by kind", ", ".join(f"{k} {v}" for k, v in fast.items()))
    print(f"  ({MLSERVER_REFERENCE})")
    _targets(s, ml, budget)


def _prefixed(d: dict[str, Any], prefix: str) -> dict[str, Any]:
    return {
        key.removeprefix(prefix + "_").removesuffix("_ms"): v
        for key, v in d.items()
        if key.startswith(prefix + "_p")
    }


def parse_bytes(text: str) -> int:
    """``1GiB``, ``512MiB``, ``1e9``: a size in bytes."""
    units = {"kib": 2**10, "mib": 2**20, "gib": 2**30, "kb": 10**3, "mb": 10**6, "gb": 10**9}
    lowered = text.strip().lower()
    for unit, factor in units.items():
        if lowered.endswith(unit):
            return int(float(lowered.removesuffix(unit)) * factor)
    return int(float(lowered))


def _targets(s: dict[str, Any], ml: dict[str, Any] | None, budget: int) -> None:
    checks = []
    if ml and ml.get("wrk"):
        checks.append(("throughput >= 10x MLServer", s["wrk"]["rps"] >= 10 * ml["wrk"]["rps"]))
    hit_p99 = s["split"].get("hit_p99_ms")
    checks.append(("hit p99 <= 20 ms", hit_p99 is not None and hit_p99 <= 20))
    small = s["cold"]["under_1MB"]
    checks.append(
        ("cold-load p99 <= 50 ms (< 1 MB)", bool(small.get("count")) and small["p99"] <= 50)
    )
    checks.append(("startup < 2 s", s["startup_s"] < 2))
    checks.append(("peak RSS <= budget + 200 MiB", s["rss_peak"] <= budget + 200 * MIB))
    print("  targets: " + "; ".join(f"{name}: {'met' if ok else 'MISSED'}" for name, ok in checks))
