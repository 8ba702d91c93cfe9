"""The cost of API keys and usage plans on the hot path: the same wrk load, with and without.

Servers alternate ``--no-auth`` / keys+plan (tenant keys whose plans never refuse, so every
request authenticates from the key cache and is counted by the in-process limiter), each for
``--duration`` seconds, ``--rounds`` times; the overhead is the throughput lost to auth + plan.

Two workloads:

* default — one tenant, one logistic regression (fast path), a static single-row request: the
  cheapest request there is, so the worst case for the share auth takes;
* ``--models N`` — the serving bench's workload (``bench_serving.py``): N tenants with one model
  each from the realistic mix, Zipf(1.1) traffic, every request carrying its tenant's key.

    .venv/bin/python bench/serving/bench_auth.py
    .venv/bin/python bench/serving/bench_auth.py --models 1000
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import traffic
import workload
from processes import ServerProcess, free_port
from sklearn.linear_model import LogisticRegression
from traffic import ensure_wrk
from workload import infer_body

from shoal.client import Client
from shoal.settings import Settings

SEQUENCE = 200_000  # Zipf draws replayed by wrk, as in bench_serving.py

STATIC_SCRIPT = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local token = os.getenv("BENCH_TOKEN")
if token and token ~= "" then wrk.headers["Authorization"] = "Bearer " .. token end
local f = assert(io.open(os.getenv("BENCH_BODY"), "rb")); wrk.body = f:read("*a"); f:close()
"""


def rps(wrk: str, url: str, script: Path, body: Path, token: str, duration: int) -> float:
    env = {**os.environ, "BENCH_TOKEN": token, "BENCH_BODY": str(body)}
    done = subprocess.run(
        [wrk, "-t2", "-c32", f"-d{duration}s", "-s", str(script), url],
        check=True,
        capture_output=True,
        text=True,
        env=env,
        timeout=duration + 60,
    )
    line = next(ln for ln in done.stdout.splitlines() if ln.startswith("Requests/sec:"))
    if "Non-2xx" in done.stdout:
        raise RuntimeError(f"non-200 answers under load:\n{done.stdout}")
    return float(line.split()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--models", type=int, default=0, help="N: the serving bench's workload")
    parser.add_argument("--warmup", type=int, default=15, help="with --models: warm-up seconds")
    args = parser.parse_args()
    wrk = ensure_wrk()
    if wrk is None:
        return
    if args.models:
        mixed(args, wrk)
        return
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        x = np.random.default_rng(0).normal(size=(200, 16))
        with Client(Settings(home=home)) as client:
            client.create_tenant("acme")
            client.register(
                "acme/churn", LogisticRegression().fit(x, x[:, 0] > 0), sample_input=x[:4]
            )
            _, token = client.create_key("bench", tenant="acme")
            client.set_plan("acme", rate_per_s=1e6, burst=1_000_000, quota_per_day=10**12)
        script = home / "static.lua"
        script.write_text(STATIC_SCRIPT)
        body = home / "body.json"
        body.write_bytes(infer_body())
        shoal = str(Path(sys.executable).with_name("shoal"))
        figures: dict[str, list[float]] = {"no auth": [], "key + plan": []}
        for _ in range(args.rounds):
            for label, flags, key in (("no auth", ["--no-auth"], ""), ("key + plan", [], token)):
                port = free_port()
                argv = [shoal, "serve", "--port", str(port), "--log-level", "warning", *flags]
                server = ServerProcess(
                    label, argv, port, env={"SHOAL_HOME": str(home)}, log=home / "server.log"
                )
                try:
                    server.wait_ready(60)
                    url = f"{server.base_url}/v2/models/acme/churn/infer"
                    rps(wrk, url, script, body, key, 3)  # warm-up: load the model
                    figures[label].append(rps(wrk, url, script, body, key, args.duration))
                finally:
                    server.stop()
    report("single hot model", figures, args)


def mixed(args: argparse.Namespace, wrk: str) -> None:
    """The serving bench's workload, with and without keys: N tenants, a key and a plan each."""
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        with Client(Settings(home=home), actor="bench") as client:
            registered = workload.register(client, args.models, workload.train_pool(4), "shared")
            tokens = []
            for tenant in registered.tenants:
                tokens.append(client.create_key("bench", tenant=tenant)[1])
                client.set_plan(tenant, rate_per_s=1e6, burst=1_000_000, quota_per_day=10**12)
        names = [f"{tenant}/m" for tenant in registered.tenants]
        picks = workload.zipf_ranks(args.models, 1.1, SEQUENCE, seed=1)
        template = "/v2/models/{name}/infer"
        plain = workload.write_paths(home / "plain.txt", names, picks, template)
        keyed = workload.write_paths(home / "keyed.txt", names, picks, template, tokens)
        body = home / "body.json"
        body.write_bytes(infer_body())
        shoal = str(Path(sys.executable).with_name("shoal"))
        figures: dict[str, list[float]] = {"no auth": [], "key + plan": []}
        for _ in range(args.rounds):
            for label, flags, paths in (
                ("no auth", ["--no-auth"], plain),
                ("key + plan", [], keyed),
            ):
                port = free_port()
                argv = [shoal, "serve", "--port", str(port), "--log-level", "warning"]
                argv += ["--memory-budget", "1GiB", "--workers", "2", *flags]
                server = ServerProcess(
                    label, argv, port, env={"SHOAL_HOME": str(home)}, log=home / "server.log"
                )
                try:
                    server.wait_ready(60)
                    run = traffic.warm_then_measure(
                        wrk,
                        server.base_url,
                        paths,
                        body,
                        warmup_s=args.warmup,
                        duration_s=args.duration,
                        connections=32,
                        offset=SEQUENCE // 2,
                    )
                    if run["status_errors"]:  # wrk's count of answers that were not 2xx/3xx
                        raise RuntimeError(f"{label}: {run['status_errors']:.0f} failed answers")
                    figures[label].append(run["rps"])
                finally:
                    server.stop()
    report(f"N = {args.models:,} models, Zipf(1.1)", figures, args)


def report(workload_name: str, figures: dict[str, list[float]], args: argparse.Namespace) -> None:
    base, keyed = (statistics.median(figures[k]) for k in ("no auth", "key + plan"))
    print(f"{workload_name}, 32 connections, median of {args.rounds} x {args.duration} s")
    for label, values in figures.items():
        print(
            f"  {label:<12} {statistics.median(values):8,.0f} req/s  "
            f"(runs: {', '.join(f'{v:,.0f}' for v in values)})"
        )
    print(
        f"  auth + usage-plan overhead: {(1 - keyed / base) * 100:.1f}% of throughput "
        "(target <= 5%)"
    )


if __name__ == "__main__":
    main()
