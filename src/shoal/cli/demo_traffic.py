"""The demo's serving half: start ``shoal serve`` as a real process and send it Zipf traffic."""

from __future__ import annotations

import asyncio
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
from numpy.typing import NDArray

from shoal.errors import ShoalError


@dataclass(slots=True)
class TrafficReport:
    """What the demo's traffic saw."""

    requests: int = 0
    errors: int = 0
    seconds: float = 0.0
    latency_ms: dict[str, list[float]] = field(default_factory=lambda: {"hit": [], "miss": []})
    flagged: int = 0
    cache: dict[str, object] = field(default_factory=dict)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def running_server(home: Path, memory_budget: str) -> Iterator[str]:
    """``shoal serve`` on a free loopback port; yields its base URL and stops it afterwards."""
    with serve_process(home, "--memory-budget", memory_budget) as (url, _):
        yield url


@contextmanager
def serve_process(home: Path, *options: str) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """``shoal serve [options]`` as a real process on a free loopback port, once it is ready:
    yields its base URL and the process, and stops it afterwards (if it still runs)."""
    port = _free_port()
    env = {**os.environ, "SHOAL_HOME": str(home)}
    # The real command a user runs (a fixed argv, no shell), not an in-process app.
    argv = [sys.executable, "-m", "shoal", "serve", "--port", str(port), "--log-level", "warning"]
    process = subprocess.Popen(  # noqa: S603
        [*argv, *options], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/v2/health/ready", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                err = process.stderr.read().decode() if process.stderr else ""
                raise ShoalError(f"shoal serve did not start: {err.strip()[-500:]}")
            time.sleep(0.1)
        yield url, process
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()


def zipf_picks(count: int, population: int, s: float, seed: int) -> NDArray[np.int64]:
    """``count`` indexes into ``population`` items with Zipf(s) popularity (item 0 hottest)."""
    weights = 1.0 / np.arange(1, population + 1) ** s
    rng = np.random.default_rng(seed)
    picks: NDArray[np.int64] = rng.choice(population, size=count, p=weights / weights.sum())
    return picks


async def _drive(
    url: str,
    paths: Sequence[str],
    rows: Sequence[list[float]],
    concurrency: int,
    report: TrafficReport,
    headers: dict[str, str],
) -> None:
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(len(paths)):
        queue.put_nowait(i)

    async def worker(client: httpx.AsyncClient) -> None:
        while not queue.empty():
            i = queue.get_nowait()
            body = {
                "inputs": [
                    {
                        "name": "input",
                        "datatype": "FP64",
                        "shape": [1, len(rows[i])],
                        "data": rows[i],
                    }
                ]
            }
            began = time.perf_counter()
            response = await client.post(paths[i], json=body)
            elapsed = (time.perf_counter() - began) * 1000
            report.requests += 1
            if response.status_code != 200:
                report.errors += 1
                continue
            report.latency_ms[response.headers.get("shoal-cache", "hit")].append(elapsed)
            outputs = {o["name"]: o["data"] for o in response.json()["outputs"]}
            report.flagged += int(outputs["label"][0] == -1)

    async with httpx.AsyncClient(base_url=url, timeout=30, headers=headers) as client:
        began = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        report.seconds = time.perf_counter() - began
        report.cache = (await client.get("/v2/cache", params={"limit": 0})).json()["stats"]


def send_traffic(
    url: str,
    paths: Sequence[str],
    rows: Sequence[list[float]],
    token: str,
    concurrency: int = 8,
) -> TrafficReport:
    report = TrafficReport()
    headers = {"Authorization": f"Bearer {token}"}
    asyncio.run(_drive(url, paths, rows, concurrency, report, headers))
    return report


def probe_access(
    url: str, token: str, own_path: str, other_path: str, row: list[float], burst: int
) -> dict[str, object]:
    """What a tenant key meets: its own model, another tenant's, and its plan's limit."""
    body = {"inputs": [{"name": "input", "datatype": "FP64", "shape": [1, len(row)], "data": row}]}
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=url, timeout=30, headers=headers) as client:
        own = client.post(own_path, json=body).status_code
        other = client.post(other_path, json=body)
        codes = [client.post(own_path, json=body) for _ in range(burst + 3)]
        anonymous = httpx.post(url + own_path, json=body, timeout=30).status_code
    limited = [r for r in codes if r.status_code == 429]
    return {
        "own": own,
        "other": f"{other.status_code} ({other.json()['error']})",
        "no key": anonymous,
        "limited": f"{len(limited)} of {len(codes)} quick calls got 429"
        + (f", Retry-After {limited[0].headers['retry-after']} s" if limited else ""),
    }


def percentile(samples: list[float], q: float) -> float:
    if not samples:
        return float("nan")
    if len(samples) == 1:
        return samples[0]
    return float(statistics.quantiles(samples, n=100, method="inclusive")[int(q) - 1])
