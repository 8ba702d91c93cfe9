"""Load generation: wrk for throughput and overall latency, a Python client for the hit/miss
split, and sequential first requests for cold-load latency."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

WRK_SCRIPT = Path(__file__).with_name("wrk_zipf.lua")
CACHE_HEADER = "shoal-cache"
HOST = "127.0.0.1"


def percentile(samples: list[float], q: float) -> float:
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]


def ensure_command(command: str, package: str, purpose: str) -> str | None:
    """``command``'s path, installing its Debian ``package`` if missing; None (and why, naming
    the ``purpose`` skipped) if impossible."""
    found = shutil.which(command)
    if found:
        return found
    apt = shutil.which("apt-get")
    if apt is None:
        print(f"{command} is not installed and apt-get is not available: skipping {purpose}")
        return None
    print(f"{command} not found: apt-get install -y {package}")
    try:
        install = [apt, "install", "-y", package]
        subprocess.run(install, check=True, capture_output=True, timeout=300)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
        print(f"cannot install {package} ({exc}); skipping {purpose}")
        return None
    return shutil.which(command)


def ensure_wrk() -> str | None:
    """The wrk binary (see ``ensure_command``)."""
    return ensure_command("wrk", "wrk", "the wrk runs")


def run_wrk(
    wrk: str,
    base_url: str,
    paths: Path,
    body: Path,
    *,
    duration_s: int,
    connections: int,
    threads: int = 2,
    offset: int = 0,
    token: str = "",
    tally: bool = False,
) -> dict[str, float]:
    """One wrk run; returns the script's JSON plus ``rps``.

    ``token`` is sent as a bearer API key; ``tally`` counts the cache header per response
    (expensive for wrk itself, so throughput runs leave it off).
    """
    argv = [
        wrk,
        f"-t{threads}",
        f"-c{connections}",
        f"-d{duration_s}s",
        "--timeout",
        "10s",
        "-s",
        str(WRK_SCRIPT),
        base_url,
        "--",
        str(paths),
        str(body),
        str(offset),
        token,
    ]
    env = {**os.environ, "WRK_TALLY": "1" if tally else "0"}
    done = subprocess.run(
        argv, check=False, capture_output=True, text=True, timeout=duration_s + 60, env=env
    )
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith("WRK_JSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no result (rc {done.returncode}):\n{done.stderr[-2000:]}")
    result: dict[str, float] = json.loads(line.removeprefix("WRK_JSON "))
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
    return result


def warm_then_measure(
    wrk: str,
    base_url: str,
    paths: Path,
    body: Path,
    *,
    warmup_s: int,
    duration_s: int,
    connections: int,
    offset: int,
    between: Callable[[], None] | None = None,
) -> dict[str, float]:
    """A warm-up wrk run from the start of the sequence, then the measured run from ``offset``;
    ``between`` runs after the warm-up (e.g. to snapshot the server's counters)."""
    run_wrk(wrk, base_url, paths, body, duration_s=warmup_s, connections=connections)
    if between is not None:
        between()
    return run_wrk(
        wrk, base_url, paths, body, duration_s=duration_s, connections=connections, offset=offset
    )


@dataclass
class SplitResult:
    """Latencies (ms) of a concurrent Python-client run, by how each request was served."""

    method: str  # "header" or "readiness probe"
    hit_ms: list[float] = field(default_factory=list)
    miss_ms: list[float] = field(default_factory=list)
    errors: int = 0
    elapsed_s: float = 0.0

    def figures(self) -> dict[str, float | str]:
        total = len(self.hit_ms) + len(self.miss_ms)
        out: dict[str, float | str] = {
            "method": self.method,
            "requests": total,
            "errors": self.errors,
            "rps": total / self.elapsed_s if self.elapsed_s else 0.0,
            "hit_ratio": len(self.hit_ms) / total if total else 0.0,
        }
        for label, samples in (("hit", self.hit_ms), ("miss", self.miss_ms)):
            out[f"{label}_count"] = len(samples)
            for q in (50, 90, 99):
                out[f"{label}_p{q}_ms"] = percentile(samples, q)
        return out


class _Connection:
    """One keep-alive HTTP/1.1 connection speaking just enough HTTP for these calls: a raw
    client costs the shared CPUs far less per request than httpx, so it disturbs the server less."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer

    @classmethod
    async def open(cls, host: str, port: int) -> _Connection:
        reader, writer = await asyncio.open_connection(host, port)
        return cls(reader, writer)

    async def call(self, method: str, path: str, body: bytes = b"") -> tuple[int, dict[str, str]]:
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: {HOST}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        self._writer.write(head.encode() + body)
        raw = await self._reader.readuntil(b"\r\n\r\n")
        status_line, *lines = raw.decode("latin-1").split("\r\n")
        headers = {}
        for line in lines:
            name, sep, value = line.partition(":")
            if sep:
                headers[name.strip().lower()] = value.strip()
        await self._reader.readexactly(int(headers.get("content-length", "0")))
        return int(status_line.split()[1]), headers

    def close(self) -> None:
        self._writer.close()


async def _split(
    port: int,
    paths: list[str],
    body: bytes,
    concurrency: int,
    duration_s: float,
    use_header: bool,
) -> SplitResult:
    result = SplitResult("header" if use_header else "readiness probe")
    cursor = iter(range(10**9))
    deadline = time.perf_counter() + duration_s

    async def worker() -> None:
        connection = await _Connection.open(HOST, port)
        try:
            while time.perf_counter() < deadline:
                path = paths[next(cursor) % len(paths)]
                hit = None
                if not use_header:  # resident right before the request: counted as a hit
                    status, _ = await connection.call("GET", path.removesuffix("/infer") + "/ready")
                    hit = status == 200
                began = time.perf_counter()
                status, headers = await connection.call("POST", path, body)
                elapsed_ms = (time.perf_counter() - began) * 1000
                if status != 200:
                    result.errors += 1
                    continue
                if use_header:
                    hit = headers.get(CACHE_HEADER) == "hit"
                (result.hit_ms if hit else result.miss_ms).append(elapsed_ms)
        finally:
            connection.close()

    began = time.perf_counter()
    await asyncio.wait_for(
        asyncio.gather(*(worker() for _ in range(concurrency))), timeout=duration_s + 60
    )
    result.elapsed_s = time.perf_counter() - began
    return result


def split_run(
    base_url: str, paths: list[str], body: bytes, concurrency: int, duration_s: float
) -> SplitResult:
    """Latency by cache hit and miss: from the ``shoal-cache`` response header when the server
    sends one, else by probing the model's readiness just before each request (approximate: a
    model can be loaded or evicted by another request in between)."""
    probe = httpx.post(base_url + paths[0], content=body, timeout=30.0)
    use_header = CACHE_HEADER in probe.headers
    port = int(base_url.rsplit(":", 1)[1])
    return asyncio.run(_split(port, paths, body, concurrency, duration_s, use_header))


def cold_loads(base_url: str, paths: list[str], body: bytes) -> list[float]:
    """Latency (ms) of one request each to models never requested before, one at a time."""
    out = []
    with httpx.Client(base_url=base_url, timeout=60.0) as client:
        for path in paths:
            began = time.perf_counter()
            response = client.post(path, content=body, headers={"content-type": "application/json"})
            elapsed = (time.perf_counter() - began) * 1000
            if response.status_code != 200:
                raise RuntimeError(f"{path}: {response.status_code} {response.text[:300]}")
            out.append(elapsed)
    return out


def cache_stats(base_url: str) -> dict[str, float]:
    response = httpx.get(base_url + "/v2/cache", params={"limit": 0}, timeout=30.0)
    response.raise_for_status()
    stats: dict[str, float] = response.json()["stats"]
    return stats
