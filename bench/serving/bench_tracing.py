"""The cost of tracing (0 %, 1 %, 100 % sampled) and of the access log on the hot path.

One tenant, one logistic regression (fast path), a tenant key with a plan that never refuses,
a static single-row V2 request, wrk with 32 connections — the ``bench_auth.py`` setup. Servers
alternate between the variants, each for ``--duration`` seconds, ``--rounds`` times:

- ``no tracing``: no exporter (requests are still recorded for metrics, as always);
- ``0 %``, ``1 %``, ``100 %``: OTLP/HTTP export to a local collector stand-in (a separate process
  that reads each export and answers 200), at that sample rate;
- ``access log``: no tracing, one JSON line per request appended to a file.

After each run the server's ``/metrics`` says how many traces were kept and dropped (the export
queue drops whole traces when the exporter falls behind).

wrk shares the 2 CPUs with the server, and other work on a shared machine moves req/s by ±25 %, so
the bench also measures each variant in-process: ``--requests`` requests through the whole ASGI
app (telemetry middleware, infer shortcut, auth, plan, predict) without sockets, and the CPU time
of the process (every thread, the exporter's included) per request — steadier than req/s.

    .venv/bin/python bench/serving/bench_tracing.py
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

import httpx
from overheads import COLLECTOR, STATIC_SCRIPT, hot_model
from overheads import wrk_rps as rps
from processes import ServerProcess, free_port
from traffic import ensure_wrk
from workload import infer_body

from shoal.client import Client
from shoal.observability import tracing
from shoal.observability.telemetry import Telemetry
from shoal.server import ServerConfig, create_app
from shoal.settings import Settings
from shoal.wiring import build_inference, build_telemetry

ASGIApp = Callable[
    [MutableMapping[str, Any], Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]],
    Awaitable[None],
]

VARIANTS: dict[str, dict[str, str]] = {
    "no tracing": {},
    "0 %": {"SHOAL_TRACE_EXPORTER": "otlp", "SHOAL_TRACE_SAMPLE_RATE": "0"},
    "1 %": {"SHOAL_TRACE_EXPORTER": "otlp", "SHOAL_TRACE_SAMPLE_RATE": "0.01"},
    "100 %": {"SHOAL_TRACE_EXPORTER": "otlp", "SHOAL_TRACE_SAMPLE_RATE": "1"},
    "access log": {"SHOAL_ACCESS_LOG": "true"},
}


def trace_counts(base_url: str, token: str) -> tuple[int, int]:
    text = httpx.get(
        f"{base_url}/metrics", headers={"Authorization": f"Bearer {token}"}, timeout=30
    ).text
    counts = {"shoal_traces_kept_total": 0, "shoal_traces_dropped_total": 0}
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name in counts:
            counts[name] = int(float(value))
    return counts["shoal_traces_kept_total"], counts["shoal_traces_dropped_total"]


async def _drive(app: ASGIApp, requests: int, token: str, body: bytes) -> None:
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"authorization", f"Bearer {token}".encode()),
    ]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v2/models/acme/churn/infer",
        "raw_path": b"/v2/models/acme/churn/infer",
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8000),
    }
    statuses: list[int] = []

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    for _ in range(requests):
        await app(dict(scope), receive, send)
    if set(statuses) != {200}:
        raise RuntimeError(f"unexpected statuses {sorted(set(statuses))}")


def cpu_per_request(home: Path, label: str, endpoint: str, token: str, requests: int) -> float:
    """Microseconds of process CPU per request through the in-process app."""
    overrides = {
        key.removeprefix("SHOAL_").lower(): value for key, value in VARIANTS[label].items()
    }
    if label == "access log":
        overrides["access_log_file"] = str(home / "access-inprocess.log")
    settings = Settings(home=home, otlp_endpoint=endpoint, **overrides)  # type: ignore[arg-type]
    with Client(settings) as client:
        inference = build_inference(settings, client.services)
        telemetry = build_telemetry(settings, client.services, inference)
        app = create_app(inference, ServerConfig(), client.services.access, telemetry=telemetry)
        body = infer_body()

        async def run() -> float:
            await _drive(app, 500, token, body)  # load the model, warm the caches
            began = time.process_time()
            await _drive(app, requests, token, body)
            await telemetry.close()  # export what is queued: the exporter's CPU counts too
            return (time.process_time() - began) / requests * 1e6

        return asyncio.run(run())


def recording_cost(requests: int = 200_000) -> float:
    """Microseconds per request of what every request pays whatever the settings: begin a
    trace, the auth and plan spans, what serving notes, and finish (metrics, no exporter)."""
    telemetry = Telemetry.for_server(lambda: None)  # type: ignore[arg-type,return-value]
    headers = [(b"authorization", b"Bearer x")]
    began = time.perf_counter()
    for _ in range(requests):
        trace = telemetry.begin("POST", "/v2/models/acme/churn/infer", headers, infer=True)
        with tracing.span("auth"):
            pass
        with tracing.span("usage_plan"):
            pass
        tracing.note_model("acme", "churn", 1)
        tracing.note_lease(True, 0.0, 0.0)
        tracing.note_predict(0.00002)
        telemetry.finish(trace, 200, "/v2/models/{tenant}/{model}/infer")
    return (time.perf_counter() - began) / requests * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--variants", nargs="*", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--requests", type=int, default=20_000, help="in-process, per variant")
    parser.add_argument("--no-wrk", action="store_true", help="in-process figures only")
    args = parser.parse_args()
    wrk = None if args.no_wrk else ensure_wrk()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        setup = hot_model(home)
        token, admin = setup.token, setup.admin
        script = home / "static.lua"
        script.write_text(STATIC_SCRIPT)
        body = home / "body.json"
        body.write_bytes(infer_body())
        collector_port = free_port()
        collector = subprocess.Popen([sys.executable, "-c", COLLECTOR, str(collector_port)])
        endpoint = f"http://127.0.0.1:{collector_port}/v1/traces"
        shoal = str(Path(sys.executable).with_name("shoal"))
        cpu: dict[str, list[float]] = {label: [] for label in args.variants}
        figures: dict[str, list[float]] = {label: [] for label in args.variants}
        exported: dict[str, list[tuple[int, int]]] = {label: [] for label in args.variants}
        try:
            time.sleep(0.5)
            for _ in range(args.rounds):
                for label in args.variants:
                    cpu[label].append(cpu_per_request(home, label, endpoint, token, args.requests))
                    if wrk is None:
                        continue
                    port = free_port()
                    env = {
                        "SHOAL_HOME": str(home),
                        "SHOAL_OTLP_ENDPOINT": endpoint,
                        "SHOAL_ACCESS_LOG_FILE": str(home / "access.log")
                        if label == "access log"
                        else "",
                        **VARIANTS[label],
                    }
                    env = {key: value for key, value in env.items() if value}
                    argv = [shoal, "serve", "--port", str(port), "--log-level", "warning"]
                    server = ServerProcess(label, argv, port, env=env, log=home / "server.log")
                    try:
                        server.wait_ready(60)
                        url = f"{server.base_url}/v2/models/acme/churn/infer"
                        rps(wrk, url, script, body, token, 3)  # warm-up: load the model
                        before = trace_counts(server.base_url, admin)
                        figures[label].append(rps(wrk, url, script, body, token, args.duration))
                        time.sleep(1.5)  # let the export queue drain
                        after = trace_counts(server.base_url, admin)
                        exported[label].append((after[0] - before[0], after[1] - before[1]))
                    finally:
                        server.stop()
        finally:
            collector.terminate()
            collector.wait(timeout=10)
    print(f"recording every request (trace timestamps + metrics): {recording_cost():.2f} µs")
    report(args, cpu, figures, exported)


def report(
    args: argparse.Namespace,
    cpu: dict[str, list[float]],
    figures: dict[str, list[float]],
    exported: dict[str, list[tuple[int, int]]],
) -> None:
    base_cpu = statistics.median(cpu[args.variants[0]])
    print(
        f"in-process, {args.requests:,} requests per run, median of {args.rounds}: "
        "process CPU per request (all threads)"
    )
    for label, values in cpu.items():
        median = statistics.median(values)
        print(
            f"  {label:<12} {median:7.1f} µs  {median - base_cpu:+6.1f} µs "
            f"({(median / base_cpu - 1) * 100:+5.1f}%)  (runs: "
            f"{', '.join(f'{v:.1f}' for v in values)})"
        )
    if not all(figures.values()):
        return
    base = statistics.median(figures[args.variants[0]])
    print(
        f"shoal serve + wrk, key + plan, 32 connections, median of {args.rounds} x "
        f"{args.duration} s (OTLP/HTTP to a local collector stand-in)"
    )
    for label, values in figures.items():
        median = statistics.median(values)
        kept = sum(k for k, _ in exported[label])
        dropped = sum(d for _, d in exported[label])
        traces = f"traces kept {kept:,}, dropped {dropped:,}" if kept or dropped else ""
        print(
            f"  {label:<12} {median:8,.0f} req/s  {(1 - median / base) * 100:5.1f}% "
            f"(runs: {', '.join(f'{v:,.0f}' for v in values)})  {traces}"
        )


if __name__ == "__main__":
    main()
