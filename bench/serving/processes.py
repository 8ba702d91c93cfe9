"""Server processes under test: spawn, time to ready, RSS of the whole process tree, stop.

Each server runs in its own session (process group) so that stopping it also stops the worker
processes it forked; every wait is bounded.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import psutil

HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def http_status(url: str, timeout: float = 2.0) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            status: int = response.status
            return status
    except urllib.error.HTTPError as exc:
        return exc.code
    except (OSError, TimeoutError):
        return None


def tree_rss(process: psutil.Process) -> int:
    """Resident bytes of ``process`` and all its descendants (0 for any that just exited)."""
    total = 0
    try:
        members = [process, *process.children(recursive=True)]
    except psutil.Error:
        return 0
    for member in members:
        with contextlib.suppress(psutil.Error):
            total += member.memory_info().rss
    return total


class CpuTimes(NamedTuple):
    """User + system CPU seconds of a server process (all its threads) and of its children."""

    own: float
    children: float

    @property
    def total(self) -> float:
        return self.own + self.children


def cpu_seconds(pid: int) -> CpuTimes:
    """CPU so far of process ``pid`` and of its running descendants (a server's capture writer
    process; 0 for any that just exited)."""
    server = psutil.Process(pid)
    times = server.cpu_times()
    children = 0.0
    for child in server.children(recursive=True):
        with contextlib.suppress(psutil.Error):
            child_times = child.cpu_times()
            children += child_times.user + child_times.system
    return CpuTimes(times.user + times.system, children)


def cpu_since(pid: int, before: CpuTimes) -> CpuTimes:
    """CPU used since ``before`` (a ``cpu_seconds``); children started since count from zero."""
    now = cpu_seconds(pid)
    children = now.children - (before.children if before.children <= now.children else 0.0)
    return CpuTimes(now.own - before.own, children)


class RssSampler:
    """Samples the tree's RSS every ``interval_s`` on a daemon thread; keeps the peak."""

    def __init__(self, pid: int, interval_s: float = 0.5) -> None:
        self._process = psutil.Process(pid)
        self._interval_s = interval_s
        self._stop = threading.Event()
        self.peak = 0
        self.last = 0
        self.samples = 0
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self._interval_s)

    def sample(self) -> int:
        rss = tree_rss(self._process)
        if rss:
            self.last = rss
            self.peak = max(self.peak, rss)
            self.samples += 1
        return rss

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


class ServerProcess:
    """One server: ``startup_s`` is spawn to the first 200 from ``ready_path``."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        port: int,
        *,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
        log: Path,
        ready_path: str = "/v2/health/ready",
    ) -> None:
        self.name = name
        self.port = port
        self.base_url = f"http://{HOST}:{port}"
        self.log = log
        self._ready_path = ready_path
        self._log_file = log.open("wb")
        self._began = time.perf_counter()
        self.popen = subprocess.Popen(
            list(argv),
            env={**os.environ, **(env or {})},
            cwd=cwd,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.rss = RssSampler(self.popen.pid)
        self.startup_s: float | None = None

    def wait_ready(self, timeout_s: float) -> float:
        """Poll readiness every 20 ms; raise with the log's tail if it exits or times out."""
        deadline = self._began + timeout_s
        url = self.base_url + self._ready_path
        while time.perf_counter() < deadline:
            if http_status(url, timeout=1.0) == 200:
                self.startup_s = time.perf_counter() - self._began
                return self.startup_s
            if self.popen.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with {self.popen.returncode}:\n{self.log_tail()}"
                )
            time.sleep(0.02)
        raise RuntimeError(f"{self.name} not ready after {timeout_s:.0f} s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 15) -> str:
        self._log_file.flush()
        text = self.log.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def stop(self) -> None:
        """SIGTERM the process group, SIGKILL it after 10 s."""
        self.rss.stop()
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(timeout=5)
        # Workers that outlived their parent are still in the group.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        self._log_file.close()
