"""The cost of data capture at 100 % sampling: the same wrk load with capture off and on.

One tenant, one logistic regression (fast path), a static single-row V2 request, 32 connections,
``--no-auth`` (so only capture differs; ``bench_auth.py`` measures keys and plans). One server
serves every run, so both sides meet the same warm process; the capture setting alternates
between "off" (no setting: every request asks the sampler, which says no) and "100 %" (every
inference is queued and written as hourly Parquet by the capture writer: a child process unless
``--writer thread``), each for
``--duration`` seconds, ``--rounds`` times, with a pause after each switch for the servers'
settings re-read (0.2 s here) and the writer's last flush (1 s here). Printed: throughput, the
server's CPU time per request (user + system over the run; a machine shared with other work
disturbs it far less than throughput), the capture counters, the rows read back from the files,
and the in-process cost of the two hot-path calls.

    .venv/bin/python bench/serving/bench_capture.py
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import timeit
import urllib.request
from pathlib import Path

from overheads import STATIC_SCRIPT, hot_model
from overheads import wrk_rps as rps
from processes import ServerProcess, cpu_seconds, cpu_since, free_port
from traffic import ensure_wrk
from workload import infer_body

from shoal.client import Client
from shoal.observability.capture import CaptureRecord, DataCapture, TenantRules
from shoal.settings import Settings
from shoal.wiring import build_capture_files

OFF, ON = "capture off", "capture 100%"


class NullSink:
    def write(self, partition: object, records: object) -> str:
        return ""

    def close(self) -> None:
        pass


def hot_path_costs() -> tuple[float, float, float]:
    """Nanoseconds per call: sampled() for an unconfigured tenant, sampled() at 100 %, and
    building + offering a record (the queue is unbounded here, so nothing is dropped)."""
    capture = DataCapture(
        NullSink(), lambda: {"acme": TenantRules(100.0)}, queue_size=1 << 30, queue_bytes=1 << 40
    )
    capture.refresh_rules()
    body, response = infer_body(), b'{"outputs":[]}'
    n = 200_000
    off = timeit.timeit(lambda: capture.sampled("globex", "churn"), number=n) / n * 1e9
    on = timeit.timeit(lambda: capture.sampled("acme", "churn"), number=n) / n * 1e9

    def offer() -> None:
        capture.offer(CaptureRecord("id", "acme", "churn", 1, time.time(), body, response, 400))

    offered = timeit.timeit(offer, number=n) / n * 1e9
    return off, on, offered


def server_stats(base_url: str) -> dict[str, int]:
    with urllib.request.urlopen(f"{base_url}/api/v1/capture/stats", timeout=5) as response:
        stats: dict[str, int] = json.loads(response.read())
        return stats


def set_capture(settings: Settings, percent: float | None) -> None:
    with Client(settings) as client:
        capture = client.services.capture
        if percent is not None:
            capture.set_config("acme", "churn", percent, "bench")
        elif capture.list_configs("acme"):
            capture.remove_config("acme", "churn", "bench")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--writer",
        choices=("process", "thread"),
        default="process",
        help="where capture files are made (the capture_writer setting)",
    )
    args = parser.parse_args()
    off_ns, on_ns, offer_ns = hot_path_costs()
    print(
        f"hot path, in-process: sampled() {off_ns:.0f} ns when the tenant captures nothing, "
        f"{on_ns:.0f} ns at 100 %; record + offer() {offer_ns / 1000:.2f} µs"
    )
    wrk = ensure_wrk()
    if wrk is None:
        return
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        settings = Settings(home=home)
        hot_model(home)
        script = home / "static.lua"
        script.write_text(STATIC_SCRIPT)
        body = home / "body.json"
        body.write_bytes(infer_body())
        shoal = str(Path(sys.executable).with_name("shoal"))
        figures: dict[str, list[float]] = {OFF: [], ON: []}
        cpu_us: dict[str, list[float]] = {OFF: [], ON: []}
        child_us: dict[str, list[float]] = {OFF: [], ON: []}
        env = {
            "SHOAL_HOME": str(home),
            "SHOAL_CAPTURE_CONFIG_TTL_S": "0.2",
            "SHOAL_CAPTURE_FLUSH_INTERVAL_S": "1",
            "SHOAL_CAPTURE_WRITER": args.writer,
        }
        port = free_port()
        argv = [shoal, "serve", "--port", str(port), "--log-level", "warning", "--no-auth"]
        server = ServerProcess("shoal", argv, port, env=env, log=home / "server.log")
        try:
            server.wait_ready(60)
            url = f"{server.base_url}/v2/models/acme/churn/infer"
            rps(wrk, url, script, body, "", 3)  # warm-up: load the model
            for _ in range(args.rounds):
                for label, percent in ((OFF, None), (ON, 100.0)):
                    set_capture(settings, percent)
                    time.sleep(2.0)  # the new setting is read; the last flush is written
                    began = cpu_seconds(server.popen.pid)
                    rate = rps(wrk, url, script, body, "", args.duration)
                    used = cpu_since(server.popen.pid, began)
                    requests = rate * args.duration
                    figures[label].append(rate)
                    cpu_us[label].append(used.total / requests * 1e6)
                    child_us[label].append(used.children / requests * 1e6)
            time.sleep(2.0)
            stats = server_stats(server.base_url)
        finally:
            server.stop()
        rows = len(build_capture_files(settings).read("acme", "churn"))
    print(
        f"single hot model, 32 connections, --no-auth, {args.rounds} rounds x {args.duration} s "
        f"per side, one server, capture files made by a {args.writer}"
    )
    for label in (OFF, ON):
        print(
            f"  {label:<13} {statistics.median(figures[label]):8,.0f} req/s, "
            f"{statistics.median(cpu_us[label]):5.0f} µs CPU/request, "
            f"{statistics.median(child_us[label]):4.1f} of it in the writer process  "
            f"(runs: {', '.join(f'{v:,.0f}' for v in figures[label])}; "
            f"{', '.join(f'{v:.0f}' for v in cpu_us[label])} µs)"
        )
    print(
        "  capture counters: "
        + ", ".join(f"{k} {stats[k]:,}" for k in ("enqueued", "written", "dropped", "failed"))
        + f"; rows read back from the files: {rows:,}"
    )
    # Each round runs off then on back to back: the median of the rounds' own ratios cancels
    # slow drifts in what else the machine is doing better than a ratio of medians would.
    throughput = statistics.median(
        1 - on / off for off, on in zip(figures[OFF], figures[ON], strict=True)
    )
    cpu = statistics.median(on / off - 1 for off, on in zip(cpu_us[OFF], cpu_us[ON], strict=True))
    print(
        f"  capture overhead at 100% sampling: {throughput * 100:.1f}% of throughput, "
        f"{cpu * 100:.1f}% more CPU per request (medians of the rounds' paired ratios; "
        "target <= 10%)"
    )


if __name__ == "__main__":
    main()
