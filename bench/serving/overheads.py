"""What keys + usage plans, tracing and data capture cost on the hot path, measured side by side.

The cheapest request there is — one tenant, one logistic regression (fast path), a static
single-row V2 request, 32 connections from wrk — so the worst case for the share each feature
takes. Every variant is its own ``shoal serve``, all started at once (idle while another is
measured); each round runs wrk against every variant in turn for ``duration`` seconds (each
round starting one variant later, with a pause before each run) and records req/s and the
server's CPU per request (user + system of the process, and of its capture writer process,
over the run, over the requests answered). A variant's overhead against its base is the
median over rounds of the paired ratios: a round runs the variants close together, so the
pairing cancels slow drifts in what else the machine does, which move req/s by ±25 % on this
shared 2-core box.

The variants:

- ``no auth``: ``--no-auth`` (the base of ``key + plan``);
- ``key + plan``: a tenant key with a usage plan that never refuses, so every request is
  authenticated from the key cache and counted by the in-process limiter (the base of the rest:
  it is what a production server does, with the default 1 % trace sampling and no exporter);
- ``trace 0 %``, ``trace 1 %``, ``trace 100 %``: OTLP/HTTP export to a local collector stand-in
  (a separate process that reads each export and answers 200) at that sample rate;
- ``capture 100 %``: every inference queued and written as hourly Parquet (a copy of the home
  whose capture setting for the model is 100 %).

``bench_serving.py`` prints these after its N runs; ``bench_auth.py`` runs the first two alone.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from processes import ServerProcess, cpu_seconds, cpu_since, free_port
from sklearn.linear_model import LogisticRegression
from workload import infer_body

from shoal.client import Client
from shoal.settings import Settings

STATIC_SCRIPT = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local token = os.getenv("BENCH_TOKEN")
if token and token ~= "" then wrk.headers["Authorization"] = "Bearer " .. token end
local f = assert(io.open(os.getenv("BENCH_BODY"), "rb")); wrk.body = f:read("*a"); f:close()
"""

COLLECTOR = """
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class Sink(BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass

ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Sink).serve_forever()
"""

MODEL = "acme/churn"
SETTLE_S = 2.0
"""Pause before each measured run."""


@dataclass(frozen=True)
class Variant:
    label: str
    base: str | None
    """The variant this one is compared with (None: a base only)."""
    flags: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    keyed: bool = True
    """Whether requests carry the tenant's key."""
    capture: bool = False
    """Serve a copy of the home that captures every inference of the model."""
    target: str = ""


def _otlp(rate: str) -> dict[str, str]:
    return {"SHOAL_TRACE_EXPORTER": "otlp", "SHOAL_TRACE_SAMPLE_RATE": rate}


VARIANTS = (
    Variant("no auth", None, flags=("--no-auth",), keyed=False),
    Variant("key + plan", "no auth", target="<= 5%"),
    Variant("trace 0%", "key + plan", env=_otlp("0")),
    Variant("trace 1%", "key + plan", env=_otlp("0.01")),
    Variant("trace 100%", "key + plan", env=_otlp("1")),
    Variant("capture 100%", "key + plan", capture=True, target="<= 10%"),
)


@dataclass(frozen=True)
class HotModel:
    """A home with one tenant, one logistic regression, a tenant key with a plan that never
    refuses, and an admin key."""

    home: Path
    token: str
    admin: str


def hot_model(home: Path) -> HotModel:
    x = np.random.default_rng(0).normal(size=(200, 16))
    with Client(Settings(home=home), actor="bench") as client:
        client.create_tenant("acme")
        client.register(MODEL, LogisticRegression().fit(x, x[:, 0] > 0), sample_input=x[:4])
        _, token = client.create_key("bench", tenant="acme")
        _, admin = client.create_key("bench-admin")
        client.set_plan("acme", rate_per_s=1e6, burst=1_000_000, quota_per_day=10**12)
    return HotModel(home, token, admin)


def wrk_rps(wrk: str, url: str, script: Path, body: Path, token: str, duration: int) -> float:
    """Requests per second of one wrk run; every answer must be a 2xx."""
    env = {**os.environ, "BENCH_TOKEN": token, "BENCH_BODY": str(body)}
    done = subprocess.run(
        [wrk, "-t2", "-c32", f"-d{duration}s", "-s", str(script), url],
        check=True,
        capture_output=True,
        text=True,
        env=env,
        timeout=duration + 60,
    )
    if "Non-2xx" in done.stdout:
        raise RuntimeError(f"non-2xx answers under load:\n{done.stdout}")
    line = next(ln for ln in done.stdout.splitlines() if ln.startswith("Requests/sec:"))
    return float(line.split()[1])


@contextmanager
def collector() -> Iterator[str]:
    """An OTLP/HTTP endpoint that reads and drops every export."""
    port = free_port()
    process = subprocess.Popen([sys.executable, "-c", COLLECTOR, str(port)])
    try:
        time.sleep(0.5)
        yield f"http://127.0.0.1:{port}/v1/traces"
    finally:
        process.terminate()
        process.wait(timeout=10)


@dataclass
class Figures:
    rps: dict[str, list[float]]
    cpu_us: dict[str, list[float]]

    def paired(self, label: str, base: str) -> tuple[float, float]:
        """Median over rounds of (throughput lost, extra CPU per request) against ``base``."""
        lost = statistics.median(
            1 - v / b for b, v in zip(self.rps[base], self.rps[label], strict=True)
        )
        extra = statistics.median(
            v / b - 1 for b, v in zip(self.cpu_us[base], self.cpu_us[label], strict=True)
        )
        return lost, extra


def measure(
    wrk: str,
    work: Path,
    *,
    rounds: int = 6,
    duration: int = 8,
    labels: Sequence[str] | None = None,
) -> Figures:
    """Run the variants (all of them, or ``labels``) side by side; see the module docstring."""
    variants = [v for v in VARIANTS if labels is None or v.label in labels]
    setup = hot_model(work / "home")
    script = work / "static.lua"
    script.write_text(STATIC_SCRIPT)
    body = work / "body.json"
    body.write_bytes(infer_body())
    if any(v.capture for v in variants):
        shutil.copytree(setup.home, work / "capture-home")
        with Client(Settings(home=work / "capture-home"), actor="bench") as client:
            client.services.capture.set_config("acme", "churn", 100.0, "bench")
    shoal = str(Path(sys.executable).with_name("shoal"))
    figures = Figures({v.label: [] for v in variants}, {v.label: [] for v in variants})
    with collector() as endpoint:
        servers: dict[str, ServerProcess] = {}
        try:
            for variant in variants:
                port = free_port()
                home = work / "capture-home" if variant.capture else setup.home
                env = {"SHOAL_HOME": str(home), "SHOAL_OTLP_ENDPOINT": endpoint, **variant.env}
                argv = [shoal, "serve", "--port", str(port), "--log-level", "warning"]
                servers[variant.label] = ServerProcess(
                    variant.label,
                    [*argv, *variant.flags],
                    port,
                    env=env,
                    log=work / f"server-{port}.log",
                )
            for variant in variants:
                server = servers[variant.label]
                server.wait_ready(60)
                url = f"{server.base_url}/v2/models/{MODEL}/infer"
                token = setup.token if variant.keyed else ""
                wrk_rps(wrk, url, script, body, token, 3)  # warm-up: load the model
            for round_no in range(rounds):
                # Each round starts one variant later, so no variant always follows the same
                # one, and each waits for the last one's background work (trace exports, capture
                # writes, the collector) to finish: what one leaves running is not charged to
                # the next.
                shift = round_no % len(variants)
                for variant in variants[shift:] + variants[:shift]:
                    time.sleep(SETTLE_S)
                    server = servers[variant.label]
                    url = f"{server.base_url}/v2/models/{MODEL}/infer"
                    token = setup.token if variant.keyed else ""
                    before = cpu_seconds(server.popen.pid)
                    rate = wrk_rps(wrk, url, script, body, token, duration)
                    cpu_s = cpu_since(server.popen.pid, before).total
                    figures.rps[variant.label].append(rate)
                    figures.cpu_us[variant.label].append(cpu_s / (rate * duration) * 1e6)
        finally:
            for server in servers.values():
                server.stop()
    return figures


def report(figures: Figures, rounds: int, duration: int) -> list[str]:
    """The table of figures and overheads, as lines."""
    lines = [
        f"hot-path overheads: one hot model, static single-row request, 32 connections, "
        f"{rounds} rounds x {duration} s per variant, all servers up at once",
        f"  {'variant':<14}{'req/s':>9}{'CPU/request':>13}   {'against':<12}"
        f"{'throughput cost':>16}{'CPU cost':>10}",
    ]
    for variant in VARIANTS:
        if variant.label not in figures.rps:
            continue
        rps = statistics.median(figures.rps[variant.label])
        cpu = statistics.median(figures.cpu_us[variant.label])
        line = f"  {variant.label:<14}{rps:>9,.0f}{cpu:>10.0f} µs   "
        if variant.base is not None and variant.base in figures.rps:
            lost, extra = figures.paired(variant.label, variant.base)
            line += f"{variant.base:<12}{lost * 100:>15.1f}%{extra * 100:>9.1f}%"
            if variant.target:
                line += f"   (target {variant.target})"
        lines.append(line)
    return lines
