"""What keys + usage plans cost per request in CPU instructions: a figure the machine's noise
cannot move.

On a shared 2-core box a wrk run's req/s swings by ±10 % between identical runs (up to ±40 %
when a neighbour is busy), more than the ≤ 5 % that ``bench_auth.py`` measures against.
Instructions executed are (near enough) deterministic, so this bench counts them: ``shoal
serve`` under valgrind's callgrind, ``--no-auth`` and keyed side by side. Each server is warmed
up with wrk, its counters are zeroed and dumped around ``--idle`` quiet seconds (what the server
does on its own: timers, polls) and then around ``--duration`` seconds of wrk; instructions per
request are what every thread (and the event-loop thread alone) executed under load, less the
idle rate over the same time, over the requests answered.

Two workloads, as in ``bench_auth.py``:

* default — one hot logistic regression, a tenant key whose plan never refuses, a static
  single-row request: the cheapest request there is, so the worst case for auth's share;
* ``--models N`` — N tenants with one model each from the serving bench's mix (logistic
  regression, boosted trees, isolation forest), a key and a plan each, Zipf(1.1) traffic with
  every request carrying its tenant's key (every model is called once before the warm-up, so
  no load is counted).

``--cache-sim`` also simulates the CPU caches and reports callgrind's cycle estimate
(instructions + 10 per L1 miss + 100 per last-level miss), which counts what N tenants' keys
and buckets cost in cache misses. Under callgrind a server runs ~50x slower (~100x with the
cache simulation), so the counts come from a few thousand requests; the report shows what share
of the event loop's count was subtracted as idle work (the smaller, the more exact the figure:
a slow run, such as the cache simulation's, leaves more of its time to background work).

    .venv/bin/python bench/serving/bench_auth_instructions.py
    .venv/bin/python bench/serving/bench_auth_instructions.py --models 200 --cache-sim
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import overheads
import workload
from processes import ServerProcess, free_port
from traffic import WRK_SCRIPT, ensure_command, ensure_wrk
from workload import infer_body

from shoal.client import Client
from shoal.settings import Settings

REQUESTS = re.compile(r"^\s*(\d+) requests in", re.MULTILINE)
EVENTS = re.compile(r"^events: (.+)$", re.MULTILINE)
TOTALS = re.compile(r"^totals: (.+)$", re.MULTILINE)
SEQUENCE = 200_000  # Zipf draws replayed by wrk, as in bench_auth.py


@dataclass(frozen=True)
class Count:
    requests: int
    main: float
    """Instructions (or estimated cycles) of the event-loop thread, the one a Python server is
    bound by."""
    total: float
    """The same for every thread of the server."""
    idle_share: float
    """What was subtracted as idle work, over what the event loop executed under load: the
    larger it is (a slow run, e.g. with the cache simulation), the less exact the figure."""


@dataclass
class Variant:
    """How one server is started and loaded: its flags, its wrk command, its warm-up calls."""

    flags: list[str]
    script: Path
    """wrk's Lua script, run against ``path`` with ``script_args``."""
    path: str
    script_args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    warm: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    """(path, headers) called once each before the warm-up: every model loaded."""


def hot_variants(work: Path) -> tuple[Path, dict[str, Variant]]:
    setup = overheads.hot_model(work / "home")
    script = work / "static.lua"
    script.write_text(overheads.STATIC_SCRIPT)
    body = work / "body.json"
    body.write_bytes(infer_body())
    path = f"/v2/models/{overheads.MODEL}/infer"

    def variant(flags: list[str], token: str) -> Variant:
        env = {"BENCH_TOKEN": token, "BENCH_BODY": str(body)}
        return Variant(flags, script, path, env=env)

    return setup.home, {
        "no auth": variant(["--no-auth"], ""),
        "key + plan": variant([], setup.token),
    }


def mixed_variants(work: Path, models: int) -> tuple[Path, dict[str, Variant]]:
    home = work / "home"
    with Client(Settings(home=home), actor="bench") as client:
        tenants = workload.keyed_tenants(client, models, work, SEQUENCE)
    body = work / "body.json"
    body.write_bytes(infer_body())
    json = {"Content-Type": "application/json"}

    def variant(flags: list[str], paths: Path, keys: list[str] | None) -> Variant:
        warm = []
        for i, name in enumerate(tenants.names):
            key = {"Authorization": f"Bearer {keys[i]}"} if keys else {}
            warm.append((workload.INFER_TEMPLATE.format(name=name), json | key))
        script_args = ["--", str(paths), str(body), str(SEQUENCE // 2)]
        flags = [*flags, "--memory-budget", "1GiB"]
        return Variant(flags, WRK_SCRIPT, "/", script_args, warm=warm)

    return home, {
        "no auth": variant(["--no-auth"], tenants.plain, None),
        "key + plan": variant([], tenants.keyed, tenants.tokens),
    }


def wrk(wrk_bin: str, base_url: str, variant: Variant, duration: int) -> int:
    """Requests answered by one wrk run (8 connections); every answer must be a 2xx."""
    argv = [wrk_bin, "-t1", "-c8", f"-d{duration}s", "--timeout", "30s", "-s", str(variant.script)]
    argv += [base_url.rstrip("/") + variant.path, *variant.script_args]
    done = subprocess.run(
        argv,
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "WRK_TALLY": "0", **variant.env},
        timeout=duration + 120,
    )
    if "Non-2xx" in done.stdout:
        raise RuntimeError(f"non-2xx answers:\n{done.stdout}")
    found = REQUESTS.search(done.stdout)
    if found is None:
        raise RuntimeError(f"no request count in wrk's output:\n{done.stdout}")
    return int(found[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=40, help="measured seconds per server")
    parser.add_argument("--warmup", type=int, default=20, help="wrk seconds before counting")
    parser.add_argument("--idle", type=int, default=40, help="quiet seconds counted first")
    parser.add_argument("--models", type=int, default=0, help="N: the serving bench's workload")
    parser.add_argument("--cache-sim", action="store_true", help="count estimated cycles too")
    args = parser.parse_args()
    wrk_bin = ensure_wrk()
    if wrk_bin is None or ensure_command("valgrind", "valgrind", "callgrind") is None:
        return
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        home, variants = mixed_variants(work, args.models) if args.models else hot_variants(work)
        shoal = str(Path(sys.executable).with_name("shoal"))
        servers: dict[str, tuple[ServerProcess, Path]] = {}
        try:
            for label, variant in variants.items():
                port, out = free_port(), work / f"callgrind-{len(servers)}"
                argv = ["valgrind", "--tool=callgrind", "--separate-threads=yes"]
                argv += ["--cache-sim=yes"] if args.cache_sim else []
                argv += [f"--callgrind-out-file={out}", shoal, "serve", "--port", str(port)]
                argv += ["--log-level", "warning", *variant.flags]
                env = {"SHOAL_HOME": str(home), "PYTHONHASHSEED": "0"}
                log = work / f"server-{port}.log"
                servers[label] = (ServerProcess(label, argv, port, env=env, log=log), out)
            counts: dict[str, dict[str, Count]] = {}
            for label, (server, out) in servers.items():  # one after the other: CPU is short
                server.wait_ready(1800)
                variant = variants[label]
                warm_models(server.base_url, variant)
                wrk(wrk_bin, server.base_url, variant, args.warmup)
                time.sleep(2)
                pid = str(server.popen.pid)
                control(pid, "-z")
                time.sleep(args.idle)
                control(pid, "-d")  # dump 1: idle
                control(pid, "-z")
                began = time.perf_counter()
                requests = wrk(wrk_bin, server.base_url, variant, args.duration)
                loaded_s = time.perf_counter() - began
                control(pid, "-d")  # dump 2: under load
                idle, loaded = thread_totals(out, 1), thread_totals(out, 2)
                scale = loaded_s / args.idle
                counts[label] = {
                    metric: Count(
                        requests,
                        loaded[metric][0] - idle[metric][0] * scale,
                        loaded[metric][1] - idle[metric][1] * scale,
                        idle[metric][0] * scale / loaded[metric][0],
                    )
                    for metric in loaded
                }
                server.stop()
        finally:
            for server, _ in servers.values():
                server.stop()
    name = f"{args.models:,} models, Zipf(1.1)" if args.models else "one hot model"
    for metric in counts["no auth"]:
        print(report(metric, name, {label: c[metric] for label, c in counts.items()}))


def warm_models(base_url: str, variant: Variant) -> None:
    """Call every model once (loading it), so the counted runs load nothing."""
    body = infer_body()
    with httpx.Client(base_url=base_url, timeout=600) as client:
        for path, headers in variant.warm:
            answer = client.post(path, content=body, headers=headers)
            if answer.status_code != 200:
                raise RuntimeError(f"warming {path}: {answer.status_code} {answer.text[:200]}")


def control(pid: str, command: str) -> None:
    subprocess.run(["callgrind_control", command, pid], check=True, capture_output=True)


def thread_totals(out: Path, dump: int) -> dict[str, tuple[float, float]]:
    """(event-loop thread, all threads) of dump ``dump`` (``<out>.<n>-<thread>``), per metric:
    instructions, and with the cache simulation callgrind's cycle estimate."""
    threads = sorted(out.parent.glob(f"{out.name}.{dump}-*"))
    if not threads:
        raise RuntimeError(f"callgrind wrote no dump at {out}.{dump}-*")
    per_thread: dict[str, dict[str, float]] = {}
    for path in threads:
        text = path.read_text(errors="replace")
        names, totals = EVENTS.search(text), TOTALS.search(text)
        if names is None or totals is None:
            per_thread[path.name] = {}
            continue
        values = [*map(int, totals[1].split())]  # trailing zeros may be left out
        events = {
            name: (values[i] if i < len(values) else 0) for i, name in enumerate(names[1].split())
        }
        per_thread[path.name] = metrics_of(events)
    main_thread = per_thread[f"{out.name}.{dump}-01"]
    return {
        metric: (main_thread[metric], sum(t.get(metric, 0.0) for t in per_thread.values()))
        for metric in main_thread
    }


def metrics_of(events: dict[str, int]) -> dict[str, float]:
    found = {"instructions": float(events.get("Ir", 0))}
    if "D1mr" in events:  # callgrind's own estimate (callgrind_annotate / KCachegrind "CEst")
        l1 = events["I1mr"] + events["D1mr"] + events["D1mw"]
        last = events.get("ILmr", 0) + events.get("DLmr", 0) + events.get("DLmw", 0)
        found["estimated cycles"] = events["Ir"] + 10 * l1 + 100 * last
    return found


def report(metric: str, name: str, counts: dict[str, Count]) -> str:
    lines = [f"{metric} per request (callgrind; {name}, 8 connections)"]
    lines.append(
        f"  {'variant':<12} {'requests':>9} {'event loop':>12} {'all threads':>12} "
        f"{'idle subtracted':>16}"
    )
    for label, c in counts.items():
        main, total = c.main / c.requests, c.total / c.requests
        lines.append(
            f"  {label:<12} {c.requests:>9,} {main:>12,.0f} {total:>12,.0f} "
            f"{c.idle_share * 100:>15.1f}%"
        )
    base, keyed = counts["no auth"], counts["key + plan"]
    extra_main = keyed.main / keyed.requests - base.main / base.requests
    extra_total = keyed.total / keyed.requests - base.total / base.requests
    lines.append(
        f"  auth + usage plan: {extra_main:+,.0f} {metric} on the event loop "
        f"({extra_main / (base.main / base.requests) * 100:.1f} %), {extra_total:+,.0f} in all "
        f"({extra_total / (base.total / base.requests) * 100:.1f} %) (target <= 5 %)"
    )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
