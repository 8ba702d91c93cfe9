"""The cost of API keys and usage plans on the hot path: the same wrk load, with and without.

``--no-auth`` against keys + plan (tenant keys whose plans never refuse, so every request
authenticates from the key cache and is counted by the in-process limiter), each for
``--duration`` seconds, ``--rounds`` times; the overhead is the throughput lost to auth + plan.

Two workloads:

* default — one tenant, one logistic regression (fast path), a static single-row request: the
  cheapest request there is, so the worst case for the share auth takes (``overheads.py``,
  both servers up at once, paired rounds; also the server's CPU per request);
* ``--models N`` — the serving bench's workload (``bench_serving.py``): N tenants with one model
  each from the realistic mix, Zipf(1.1) traffic, every request carrying its tenant's key.

    .venv/bin/python bench/serving/bench_auth.py
    .venv/bin/python bench/serving/bench_auth.py --models 1000
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

import overheads
import traffic
import workload
from processes import ServerProcess, free_port
from traffic import ensure_wrk
from workload import infer_body

from shoal.client import Client
from shoal.settings import Settings

SEQUENCE = 200_000  # Zipf draws replayed by wrk, as in bench_serving.py


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=5)
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
        figures = overheads.measure(
            wrk,
            Path(tmp),
            rounds=args.rounds,
            duration=args.duration,
            labels=["no auth", "key + plan"],
        )
    print("\n".join(overheads.report(figures, args.rounds, args.duration)))


def mixed(args: argparse.Namespace, wrk: str) -> None:
    """The serving bench's workload, with and without keys: N tenants, a key and a plan each."""
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        with Client(Settings(home=home), actor="bench") as client:
            tenants = workload.keyed_tenants(client, args.models, home, SEQUENCE)
        body = home / "body.json"
        body.write_bytes(infer_body())
        shoal = str(Path(sys.executable).with_name("shoal"))
        figures: dict[str, list[float]] = {"no auth": [], "key + plan": []}
        for _ in range(args.rounds):
            for label, flags, paths in (
                ("no auth", ["--no-auth"], tenants.plain),
                ("key + plan", [], tenants.keyed),
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
