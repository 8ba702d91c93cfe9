"""What keys + usage plans cost per request in CPU instructions: a figure the machine's noise
cannot move.

On a shared 2-core box a wrk run's req/s swings by ±10 % between identical runs, twice the
≤ 5 % that ``bench_auth.py`` measures against. Instructions executed are (near enough)
deterministic, so this bench counts them: the ``bench_auth.py`` setup (one hot logistic
regression, a tenant key whose plan never refuses), ``shoal serve`` under valgrind's callgrind,
``--no-auth`` and keyed side by side. Each server is warmed up with wrk, its counters are
zeroed and dumped around ``--idle`` quiet seconds (what the server does on its own: timers,
polls) and then around ``--duration`` seconds of wrk; instructions per request are what every
thread (and the event-loop thread alone) executed under load, less the idle rate over the same
time, over the requests answered.
Under callgrind a server runs ~50x slower, so the counts come from a few thousand requests.

    .venv/bin/python bench/serving/bench_auth_instructions.py
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import overheads
from processes import ServerProcess, free_port
from traffic import ensure_command, ensure_wrk
from workload import infer_body

REQUESTS = re.compile(r"^\s*(\d+) requests in", re.MULTILINE)
TOTALS = re.compile(r"^(?:totals|summary): (\d+)", re.MULTILINE)


@dataclass(frozen=True)
class Count:
    requests: int
    main: float
    """Instructions of the event-loop thread (the one a Python server is bound by)."""
    total: float
    """Instructions of every thread of the server."""


def wrk(wrk_bin: str, url: str, script: Path, env: dict[str, str], duration: int) -> int:
    """Requests answered by one wrk run (8 connections); every answer must be a 2xx."""
    done = subprocess.run(
        [wrk_bin, "-t1", "-c8", f"-d{duration}s", "--timeout", "30s", "-s", str(script), url],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, **env},
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
    parser.add_argument("--idle", type=int, default=15, help="quiet seconds counted first")
    args = parser.parse_args()
    wrk_bin = ensure_wrk()
    if wrk_bin is None or ensure_command("valgrind", "valgrind", "callgrind") is None:
        return
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        setup = overheads.hot_model(work / "home")
        script = work / "static.lua"
        script.write_text(overheads.STATIC_SCRIPT)
        body = work / "body.json"
        body.write_bytes(infer_body())
        shoal = str(Path(sys.executable).with_name("shoal"))
        variants = {"no auth": (["--no-auth"], ""), "key + plan": ([], setup.token)}
        servers: dict[str, tuple[ServerProcess, Path]] = {}
        try:
            for label, (flags, _) in variants.items():
                port, out = free_port(), work / f"callgrind-{len(servers)}"
                argv = ["valgrind", "--tool=callgrind", "--separate-threads=yes"]
                argv += [f"--callgrind-out-file={out}", shoal, "serve", "--port", str(port)]
                argv += ["--log-level", "warning", *flags]
                env = {"SHOAL_HOME": str(setup.home), "PYTHONHASHSEED": "0"}
                log = work / f"server-{port}.log"
                servers[label] = (ServerProcess(label, argv, port, env=env, log=log), out)
            counts = {}
            for label, (server, out) in servers.items():  # one after the other: CPU is short
                server.wait_ready(900)
                url = f"{server.base_url}/v2/models/{overheads.MODEL}/infer"
                env = {"BENCH_TOKEN": variants[label][1], "BENCH_BODY": str(body)}
                wrk(wrk_bin, url, script, env, args.warmup)
                time.sleep(2)
                pid = str(server.popen.pid)
                control(pid, "-z")
                time.sleep(args.idle)
                control(pid, "-d")  # dump 1: idle
                control(pid, "-z")
                began = time.perf_counter()
                requests = wrk(wrk_bin, url, script, env, args.duration)
                loaded_s = time.perf_counter() - began
                control(pid, "-d")  # dump 2: under load
                idle_main, idle_total = thread_totals(out, 1)
                main_ir, total_ir = thread_totals(out, 2)
                scale = loaded_s / args.idle
                counts[label] = Count(
                    requests, main_ir - idle_main * scale, total_ir - idle_total * scale
                )
                server.stop()
        finally:
            for server, _ in servers.values():
                server.stop()
    print(report(counts))


def control(pid: str, command: str) -> None:
    subprocess.run(["callgrind_control", command, pid], check=True, capture_output=True)


def thread_totals(out: Path, dump: int) -> tuple[int, int]:
    """(event-loop thread, all threads) instructions of dump ``dump`` (``<out>.<n>-<thread>``)."""
    threads = sorted(out.parent.glob(f"{out.name}.{dump}-*"))
    if not threads:
        raise RuntimeError(f"callgrind wrote no dump at {out}.{dump}-*")
    totals = {}
    for path in threads:
        found = TOTALS.search(path.read_text(errors="replace"))
        totals[path.name] = int(found[1]) if found else 0
    return totals[f"{out.name}.{dump}-01"], sum(totals.values())


def report(counts: dict[str, Count]) -> str:
    lines = ["instructions per request (callgrind; one hot model, 8 connections)"]
    lines.append(f"  {'variant':<12} {'requests':>9} {'event loop':>12} {'all threads':>12}")
    for label, c in counts.items():
        main, total = c.main / c.requests, c.total / c.requests
        lines.append(f"  {label:<12} {c.requests:>9,} {main:>12,.0f} {total:>12,.0f}")
    base, keyed = counts["no auth"], counts["key + plan"]
    extra_main = keyed.main / keyed.requests - base.main / base.requests
    extra_total = keyed.total / keyed.requests - base.total / base.requests
    lines.append(
        f"  auth + usage plan: +{extra_main:,.0f} instructions on the event loop "
        f"({extra_main / (base.main / base.requests) * 100:.1f} %), +{extra_total:,.0f} in all "
        f"({extra_total / (base.total / base.requests) * 100:.1f} %) (target <= 5 %)"
    )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
