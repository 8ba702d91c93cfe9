"""``NotebookRunner``: executes a notebook in a driver process, within a max runtime, measured.

The driver (``python -m shoal.jobs.driver``) runs papermill, which starts the kernel as its
child. The runner watches the driver's process tree (``ProcessTreeMonitor``), and past the max
runtime kills the whole tree, kernel included, and reports the job timed out with whatever
output the notebook had saved. CPU time and peak memory come from the driver's
``getrusage(RUSAGE_CHILDREN)`` when it finishes (exact for the kernel and everything the kernel
waited for), else from the monitor's samples; peak memory is the larger of the sampled sum over
the tree and the largest single process.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from shoal.jobs.monitor import ProcessTreeMonitor, kill_tree
from shoal.jobs.notebooks import Notebook
from shoal.jobs.records import CellError, JobStatus, ParameterValue, Usage
from shoal.jobs.rendering import render_html, running_cell

logger = logging.getLogger(__name__)

_KILL_GRACE_S = 5.0


@dataclass(frozen=True, slots=True)
class Execution:
    """What one notebook execution left: its status, cost, output files and any error."""

    status: JobStatus
    usage: Usage
    notebook: Path | None
    """The executed notebook, when it got as far as writing one."""
    html: Path | None
    error: str | None = None
    cell_error: CellError | None = None


class NotebookRunner:
    """Runs notebooks with ``kernel`` in driver processes with the environment ``env`` added.

    ``env`` carries what a notebook needs to reach the same Shoal (``SHOAL_HOME``...).
    """

    def __init__(self, kernel: str = "python3", env: Mapping[str, str] | None = None) -> None:
        self._kernel = kernel
        self._env = dict(env or {})
        self._live: dict[int, subprocess.Popen[bytes]] = {}
        self._lock = threading.Lock()

    def execute(
        self,
        notebook: Notebook,
        parameters: Mapping[str, ParameterValue],
        work_dir: Path,
        max_runtime_s: float | None,
    ) -> Execution:
        """Run ``notebook`` with ``parameters`` in its own folder; files go to ``work_dir``."""
        work_dir.mkdir(parents=True, exist_ok=True)
        # A copy of the bytes that were inspected and digested runs, under a plain name
        # (papermill would expand braces in a path with the parameters).
        (work_dir / "input.ipynb").write_bytes(notebook.content)
        spec = {
            "input": str(work_dir / "input.ipynb"),
            "output": str(work_dir / "output.ipynb"),
            "html": str(work_dir / "output.html"),
            "result": str(work_dir / "result.json"),
            "parameters": dict(parameters),
            "kernel": self._kernel,
            "cwd": str(notebook.path.resolve().parent),
        }
        (work_dir / "spec.json").write_text(json.dumps(spec), encoding="utf-8")
        started = time.monotonic()
        with (work_dir / "driver.log").open("wb") as log:
            process = subprocess.Popen(  # noqa: S603  (our own module, no shell)
                [sys.executable, "-m", "shoal.jobs.driver", str(work_dir / "spec.json")],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, **self._env},
                # Its own session: a Ctrl-C in the terminal reaches the runner, which then
                # stops every job cleanly, instead of killing kernels half-way through a save.
                start_new_session=True,
            )
        with self._lock:
            self._live[process.pid] = process
        monitor = ProcessTreeMonitor(process.pid).start()
        try:
            timed_out = self._wait(process, monitor, max_runtime_s)
        finally:
            monitor.stop()
            with self._lock:
                self._live.pop(process.pid, None)
        wall_s = time.monotonic() - started
        return self._outcome(
            work_dir, process.returncode, timed_out, wall_s, monitor, max_runtime_s
        )

    def stop_all(self) -> None:
        """Kill every running notebook and its kernel (on Ctrl-C or shutdown)."""
        with self._lock:
            live = list(self._live.values())
        for process in live:
            kill_tree(process.pid, [])

    def _wait(
        self,
        process: subprocess.Popen[bytes],
        monitor: ProcessTreeMonitor,
        max_runtime_s: float | None,
    ) -> bool:
        try:
            process.wait(timeout=max_runtime_s)
        except subprocess.TimeoutExpired:
            logger.info(
                "notebook ran past %s s: killing pid %d and its kernel", max_runtime_s, process.pid
            )
            monitor.sample()
            kill_tree(process.pid, monitor.descendants())
            process.wait(timeout=_KILL_GRACE_S)
            return True
        return False

    def _outcome(
        self,
        work_dir: Path,
        returncode: int | None,
        timed_out: bool,
        wall_s: float,
        monitor: ProcessTreeMonitor,
        max_runtime_s: float | None,
    ) -> Execution:
        output = work_dir / "output.ipynb"
        html = work_dir / "output.html"
        notebook = output if output.exists() else None
        result = _read_result(work_dir / "result.json")
        if timed_out or result is None:
            if notebook is not None and not html.exists():
                _try_render(notebook, html)
            usage = Usage(wall_s, monitor.cpu_s, monitor.peak_rss_bytes or None)
            html_file = html if html.exists() else None
            if timed_out:
                cell = running_cell(notebook) if notebook is not None else None
                where = f" in cell {cell}" if cell is not None else ""
                error = f"ran past its max runtime of {max_runtime_s:g} s{where} and was killed"
                return Execution(JobStatus.TIMED_OUT, usage, notebook, html_file, error)
            log = (work_dir / "driver.log").read_text(encoding="utf-8", errors="replace")
            error = f"the notebook driver exited with code {returncode}: {log[-2000:].strip()}"
            return Execution(JobStatus.FAILED, usage, notebook, html_file, error)
        cpu = result.get("cpu_s")
        max_rss = result.get("max_rss_bytes")
        peak = max(monitor.peak_rss_bytes, max_rss if isinstance(max_rss, int) else 0)
        usage = Usage(
            wall_s, float(cpu) if isinstance(cpu, int | float) else monitor.cpu_s, peak or None
        )
        html_file = html if html.exists() else None
        if result.get("status") == "succeeded":
            return Execution(JobStatus.SUCCEEDED, usage, notebook, html_file)
        cell_error = None
        if "source" in result:
            cell_error = CellError(
                cell=_int_or_none(result.get("cell")),
                source=str(result.get("source", "")),
                error=str(result.get("error", "")),
                traceback=str(result.get("traceback", "")),
            )
        error = str(result.get("error") or "the notebook failed")
        if cell_error is None and result.get("traceback"):
            cell_error = CellError(None, "", error, str(result["traceback"]))
        return Execution(JobStatus.FAILED, usage, notebook, html_file, error, cell_error)


def _read_result(path: Path) -> dict[str, object] | None:
    try:
        loaded = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return loaded if isinstance(loaded, dict) else None


def _try_render(notebook: Path, html: Path) -> None:
    try:
        render_html(notebook, html)
    except Exception:
        logger.warning("could not render %s as HTML", notebook, exc_info=True)


def _int_or_none(value: object) -> int | None:
    return value if isinstance(value, int) else None
