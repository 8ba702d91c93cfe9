"""``ProcessTreeMonitor``: samples the memory and CPU of a process's descendants while it runs.

The kernel a job starts is a child of the job's driver process, and anything the notebook
starts (worker processes) is a child of the kernel; the monitor sums the memory of all of
them (proportional set size, so pages forked workers share count once) every ``interval_s``
and keeps the peak, and keeps each process's CPU time as last
seen. The driver itself (papermill's bookkeeping) is left out: the cost is the notebook's.
Sampling can miss a spike shorter than the interval; the driver's ``getrusage`` figures, when
it finishes, are exact and are preferred (see ``runner``).
"""

from __future__ import annotations

import contextlib
import threading

import psutil  # type: ignore[import-untyped]  # no stubs; the pyproject override list lacks it


class ProcessTreeMonitor:
    """Samples the descendants of ``pid`` on a daemon thread until ``stop()``."""

    def __init__(self, pid: int, interval_s: float = 0.1) -> None:
        self._pid = pid
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._cpu: dict[tuple[int, float], float] = {}
        self._peak_rss = 0
        self._thread = threading.Thread(target=self._loop, name=f"monitor-{pid}", daemon=True)

    def start(self) -> ProcessTreeMonitor:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def peak_rss_bytes(self) -> int:
        return self._peak_rss

    @property
    def cpu_s(self) -> float:
        """CPU time (user + system) of every descendant seen, as last sampled."""
        return sum(self._cpu.values())

    def descendants(self) -> list[psutil.Process]:
        try:
            return list(psutil.Process(self._pid).children(recursive=True))
        except psutil.Error:
            return []

    def sample(self) -> None:
        total = 0
        for process in self.descendants():
            try:
                with process.oneshot():
                    total += _memory(process)
                    times = process.cpu_times()
                    # (pid, create time) names a process even if its pid is reused later.
                    self._cpu[(process.pid, process.create_time())] = times.user + times.system
            except psutil.Error:
                continue  # it exited between the listing and the reading
        self._peak_rss = max(self._peak_rss, total)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self._interval_s)


def _memory(process: psutil.Process) -> int:
    # Proportional set size where the platform has it (Linux): forked workers share the
    # kernel's pages, and summing their RSS would count those pages once per worker.
    try:
        return int(process.memory_full_info().pss)
    except (AttributeError, psutil.AccessDenied):
        return int(process.memory_info().rss)


def kill_tree(pid: int, descendants: list[psutil.Process]) -> None:
    """Kill ``pid`` and the given descendants (listed before, so orphans are not missed)."""
    with contextlib.suppress(psutil.Error):
        descendants = descendants + psutil.Process(pid).children(recursive=True)
    for process in {p.pid: p for p in descendants}.values():
        try:
            process.kill()
        except psutil.Error:
            continue
    with contextlib.suppress(psutil.Error):
        psutil.Process(pid).kill()
    psutil.wait_procs(descendants, timeout=5)
