"""``SubprocessLauncher``: starts a scheduled pipeline run as ``shoal pipelines run`` in a process.

A run that crashes, hangs or exhausts memory takes its own process down, never the scheduler.
The run's output goes to a log file per fire; when the process ends, its exit code says
whether the run succeeded and its JSON output (``--output json``) names the run id.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from shoal.scheduling.records import FireStatus, Schedule

_RUN_ID = re.compile(r'"run_id"\s*:\s*"([^"]+)"')


@dataclass(frozen=True, slots=True)
class RunResult:
    """How a launched run ended."""

    status: FireStatus
    exit_code: int | None
    run_id: str | None
    detail: str


class LaunchedRun(Protocol):
    """A run in flight: polled by the scheduler until it returns a result."""

    def poll(self) -> RunResult | None:
        """The result once the run has ended, else None."""
        ...

    def wait(self) -> RunResult: ...


class RunLauncher(Protocol):
    """Starts the run of a schedule's fire."""

    def launch(self, schedule: Schedule, fire_label: str) -> LaunchedRun: ...


def cli_arguments(schedule: Schedule) -> list[str]:
    """``pipelines run REF -p k=v ... --output json``: the run a schedule's fire starts."""
    arguments = ["pipelines", "run", schedule.pipeline]
    for key, value in schedule.parameters.items():
        arguments += ["-p", f"{key}={_text(value)}"]
    return [*arguments, "--output", "json"]


def _text(value: object) -> str:
    return value if isinstance(value, str) else json.dumps(value)


class SubprocessLauncher:
    """Runs ``python -m shoal [global options] pipelines run ...`` with ``env`` added.

    ``global_options`` carries what the scheduler was started with (``--home``...), so the run
    uses the same stores; logs go to ``log_dir/<schedule>/<fire>.log``.
    """

    def __init__(
        self,
        log_dir: Path,
        global_options: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
    ) -> None:
        self._log_dir = log_dir
        self._global_options = tuple(global_options)
        self._env = dict(env or {})

    def launch(self, schedule: Schedule, fire_label: str) -> _ProcessRun:
        log = self._log_dir / schedule.name / f"{fire_label}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "shoal", *self._global_options, *cli_arguments(schedule)]
        with log.open("wb") as out:
            process = subprocess.Popen(  # noqa: S603  (our own CLI, no shell)
                command,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, **self._env},
                # Not in the scheduler's process group: a Ctrl-C stops the scheduler, which
                # lets running runs finish instead of killing them half-way.
                start_new_session=True,
            )
        return _ProcessRun(process, log)


class _ProcessRun:
    def __init__(self, process: subprocess.Popen[bytes], log: Path) -> None:
        self._process = process
        self._log = log

    def poll(self) -> RunResult | None:
        code = self._process.poll()
        return None if code is None else self._result(code)

    def wait(self) -> RunResult:
        return self._result(self._process.wait())

    def _result(self, code: int) -> RunResult:
        output = self._log.read_text(encoding="utf-8", errors="replace")
        found = _RUN_ID.findall(output)
        run_id = found[-1] if found else None
        status = FireStatus.SUCCEEDED if code == 0 else FireStatus.FAILED
        tail = output.strip().splitlines()[-1:] if code != 0 else []
        detail = f"exit code {code}; log {self._log}" + (f": {tail[0][:500]}" if tail else "")
        return RunResult(status, code, run_id, detail)
