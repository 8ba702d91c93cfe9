"""Serving throughput, latency, cold loads, memory and startup of ``shoal serve``, against Seldon
MLServer on the same workload.

For each N: register N per-tenant models (a third each of logistic regression, gradient-boosted
trees with 100 trees, isolation forest with 50 trees; 16 float features; see ``workload.py``),
start ``shoal serve`` under a memory budget, time first requests to never-loaded models, then
drive Zipf(s) traffic with ``wrk`` (a warm-up, then the measured run), split latency by cache
hit and miss with a concurrent Python client, and sample the RSS of the server's process tree.
Then the same for MLServer (its own virtualenv; it loads every model at start, so it gets at
most ``--mlserver-max-models``) and print the ratios. Last, what API keys + usage plans, tracing
(0 %, 1 %, 100 %) and data capture at 100 % cost on one hot model, servers side by side
(``overheads.py``; ``--no-overheads`` skips it). Everything runs on 127.0.0.1 on this machine,
the load generator included.

    .venv/bin/python bench/serving/bench_serving.py --models 1000 --models 10000
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import mlserver_side
import numpy as np
import overheads
import report
import traffic
import workload
from processes import ServerProcess, free_port

from shoal.client import Client
from shoal.settings import Settings

RESULTS = Path(__file__).with_name("results")
SEQUENCE = 200_000  # Zipf draws replayed by wrk (cycled if a run needs more)
COLD_SAMPLE = 200


def serve_shoal(
    args: argparse.Namespace, n: int, home: Path, tmp: Path, reg: workload.Registered, wrk: str
) -> dict[str, object]:
    names = [f"{t}/m" for t in reg.tenants]
    picks = workload.zipf_ranks(n, args.zipf, SEQUENCE, seed=1)
    paths_file = workload.write_paths(
        tmp / "shoal-paths.txt", names, picks, "/v2/models/{name}/infer"
    )
    body = workload.infer_body()
    body_file = tmp / "body.json"
    body_file.write_bytes(body)
    port = free_port()
    shoal = Path(sys.executable).with_name("shoal")
    argv = [str(shoal), "serve", "--port", str(port), "--memory-budget", args.budget]
    # Loopback, no keys: the figures compare serving with MLServer (which has none either);
    # the cost of API keys and usage plans is measured on its own (``auth_overhead``).
    argv += ["--workers", "2", "--log-level", "warning", "--no-auth"]
    server = ServerProcess(
        "shoal", argv, port, env={"SHOAL_HOME": str(home)}, log=tmp / "shoal.log"
    )
    out: dict[str, object] = {"models": n, "command": " ".join(argv[1:])}
    try:
        out["startup_s"] = server.wait_ready(timeout_s=120)
        url = server.base_url
        # The first model of each kind also pays the imports (sklearn, skops, onnxruntime).
        first = [f"/v2/models/{names[i]}/infer" for i in range(min(3, n))]
        out["first_load_per_kind_ms"] = dict(
            zip(reg.kinds, traffic.cold_loads(url, first, body), strict=False)
        )
        rng = np.random.default_rng(7)
        cold = rng.choice(np.arange(3, n), size=min(COLD_SAMPLE, n - 3), replace=False)
        cold_ms = traffic.cold_loads(url, [f"/v2/models/{names[i]}/infer" for i in cold], body)
        out["cold"] = report.cold_figures(
            cold_ms, [reg.kinds[i] for i in cold], [reg.artifact_bytes[i] for i in cold]
        )
        out["rss_before_traffic"] = server.rss.sample()
        before: dict[str, float] = {}
        out["wrk"] = traffic.warm_then_measure(
            wrk,
            url,
            paths_file,
            body_file,
            warmup_s=args.warmup,
            duration_s=args.duration,
            connections=args.concurrency,
            offset=SEQUENCE // 4,
            between=lambda: before.update(traffic.cache_stats(url)),
        )
        after = traffic.cache_stats(url)
        out["cache_during_wrk"] = report.stats_delta(before, after)
        paths = paths_file.read_text().splitlines()
        split = traffic.split_run(
            url, paths[SEQUENCE // 2 :], body, args.concurrency, args.split_duration
        )
        out["split"] = split.figures()
        out["cache"] = traffic.cache_stats(url)
        out["rss_end"] = server.rss.sample()
    finally:
        server.stop()
    out["rss_peak"] = server.rss.peak
    out["rss_samples"] = server.rss.samples
    return out


def serve_mlserver(
    args: argparse.Namespace,
    n: int,
    tmp: Path,
    reg: workload.Registered,
    pool: list[workload.BaseModel],
    wrk: str,
    mlserver: Path,
) -> dict[str, object]:
    m = min(n, args.mlserver_max_models)
    tenants = reg.tenants[:m]
    names = [mlserver_side.model_name(t) for t in tenants]
    ports = {"http_port": free_port(), "grpc_port": free_port(), "metrics_port": free_port()}
    root = mlserver_side.write_repository(
        tmp / "mlserver-repo",
        tenants,
        [b.model for b in pool],
        [i % len(pool) for i in range(m)],
        parallel_workers=args.mlserver_workers,
        **ports,
    )
    picks = workload.zipf_ranks(m, args.zipf, SEQUENCE, seed=1)
    paths_file = workload.write_paths(tmp / "ml-paths.txt", names, picks, "/v2/models/{name}/infer")
    body_file = tmp / "body.json"
    out: dict[str, object] = {
        "models": m,
        "version": mlserver_side.version_of(mlserver),
        "parallel_workers": args.mlserver_workers,
    }
    server = ServerProcess(
        "MLServer",
        mlserver_side.command(mlserver, root),
        ports["http_port"],
        cwd=root,
        log=tmp / "mlserver.log",
    )
    try:
        out["startup_s"] = server.wait_ready(timeout_s=args.mlserver_start_timeout)
        url = server.base_url
        one = traffic.cold_loads(url, [f"/v2/models/{names[0]}/infer"], body_file.read_bytes())
        out["first_request_ms"] = one[0]
        out["wrk"] = traffic.warm_then_measure(
            wrk,
            url,
            paths_file,
            body_file,
            warmup_s=args.warmup,
            duration_s=args.duration,
            connections=args.concurrency,
            offset=SEQUENCE // 4,
        )
        out["rss_end"] = server.rss.sample()
    finally:
        server.stop()
    out["rss_peak"] = server.rss.peak
    return out


def run_n(
    args: argparse.Namespace,
    n: int,
    pool: list[workload.BaseModel],
    wrk: str,
    mlserver: Path | None,
    tmp: Path,
) -> dict[str, object]:
    home = tmp / "shoal-home"
    print(f"\n=== N = {n:,} models: registering ({args.registration}) ...", flush=True)
    client = Client(Settings(home=home), actor="bench")
    reg = workload.register(client, n, pool, args.registration)
    client.close()
    print(
        f"registered in {reg.total_s:.1f} s (tenants {reg.tenants_s:.1f} s, verified base models "
        f"{reg.base_s:.1f} s, copies {reg.copies_s:.1f} s); not part of the serving figures",
        flush=True,
    )
    result: dict[str, object] = {
        "models": n,
        "registration": {
            "mode": reg.mode,
            "tenants_s": reg.tenants_s,
            "base_models_s": reg.base_s,
            "copies_s": reg.copies_s,
            "fast_path_by_kind": reg.fast_path,
            "artifact_bytes_by_kind": report.sizes_by_kind(reg.kinds, reg.artifact_bytes),
        },
    }
    print("serving with shoal ...", flush=True)
    result["shoal"] = serve_shoal(args, n, home, tmp, reg, wrk)
    if mlserver is not None:
        print(
            f"serving with MLServer ({min(n, args.mlserver_max_models):,} models) ...", flush=True
        )
        try:
            result["mlserver"] = serve_mlserver(args, n, tmp, reg, pool, wrk, mlserver)
        except (RuntimeError, OSError) as exc:
            print(f"MLServer run failed, continuing with Shoal's figures: {exc}")
            result["mlserver_error"] = str(exc)
    report.print_n(result, args)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument(
        "--models", action="append", help="N; repeatable or a comma list [1000,10000]"
    )
    parser.add_argument("--duration", type=int, default=30, help="measured wrk run, seconds")
    parser.add_argument("--warmup", type=int, default=10, help="wrk warm-up run, seconds")
    parser.add_argument("--split-duration", type=float, default=10, help="hit/miss client run, s")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--zipf", type=float, default=1.1, help="Zipf exponent s")
    parser.add_argument("--budget", default="1GiB", help="shoal serve --memory-budget")
    parser.add_argument("--registration", choices=("shared", "distinct"), default="shared")
    parser.add_argument("--base-models", type=int, default=10, help="trained models per kind")
    parser.add_argument("--mlserver", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--mlserver-max-models", type=int, default=1000)
    parser.add_argument("--mlserver-workers", type=int, default=1, help="parallel_workers [1]")
    parser.add_argument("--mlserver-start-timeout", type=float, default=300)
    parser.add_argument("--keep", action="store_true", help="keep the temporary folders")
    parser.add_argument(
        "--overheads",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also measure keys + plans, tracing and capture on one hot model (overheads.py)",
    )
    parser.add_argument("--overhead-rounds", type=int, default=6, help="one per variant [6]")
    parser.add_argument("--overhead-duration", type=int, default=8, help="seconds per variant")
    args = parser.parse_args()
    sizes = [int(v) for raw in (args.models or ["1000,10000"]) for v in raw.split(",") if v]

    wrk = traffic.ensure_wrk()
    if wrk is None:
        print("wrk is required for the throughput runs; nothing measured")
        return
    mlserver = mlserver_side.ensure_venv() if args.mlserver else None
    began = time.perf_counter()
    pool = workload.train_pool(args.base_models)
    print(f"trained {len(pool)} base models in {time.perf_counter() - began:.1f} s")
    runs = []
    for n in sizes:
        tmp = Path(tempfile.mkdtemp(prefix=f"shoal-bench-serving-{n}-"))
        try:
            runs.append(run_n(args, n, pool, wrk, mlserver, tmp))
        finally:
            if args.keep:
                print(f"kept {tmp}")
            else:
                shutil.rmtree(tmp, ignore_errors=True)
    costs = None
    if args.overheads:
        print("\n=== hot-path overheads (keys + plans, tracing, capture) ...", flush=True)
        with tempfile.TemporaryDirectory(prefix="shoal-bench-overheads-") as work:
            figures = overheads.measure(
                wrk, Path(work), rounds=args.overhead_rounds, duration=args.overhead_duration
            )
        print("\n".join(overheads.report(figures, args.overhead_rounds, args.overhead_duration)))
        costs = {"rps": figures.rps, "cpu_us_per_request": figures.cpu_us}
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / time.strftime("serving-%Y%m%d-%H%M%S.json")
    meta = {"argv": sys.argv[1:], "machine": platform.platform(), "cpus": report.cpu_count()}
    result = {"meta": meta, "runs": runs, "overheads": costs}
    out.write_text(json.dumps(result, indent=2, default=str))
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
