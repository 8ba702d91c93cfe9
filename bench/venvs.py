"""Virtualenvs for the tools a benchmark compares Shoal with (never Shoal dependencies).

Each lives under ``~/.cache/shoal-bench/<name>``, is created on first use with the packages
asked for, and is reused afterwards. Benchmarks import this module by path (``bench/`` is put
on ``sys.path`` by the caller), so every benchmark folder shares the one helper.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

CACHE = Path.home() / ".cache" / "shoal-bench"


def ensure_venv(
    name: str, packages: Sequence[str], executable: str = "python", timeout_s: float = 900
) -> Path | None:
    """``<venv>/bin/<executable>``, creating the venv once; None (and why, printed) on failure.

    The venv counts as made once ``executable`` exists, so a failed install is retried next time.
    """
    venv = CACHE / name
    target = venv / "bin" / executable
    if target.exists():
        return target
    print(f"creating the {name} virtualenv in {venv} (once; a few minutes)")
    try:
        if not (venv / "bin" / "pip").exists():
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
        subprocess.run(
            [str(venv / "bin" / "pip"), "install", "-q", *packages],
            check=True,
            timeout=timeout_s,
            capture_output=True,
        )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
        detail = getattr(exc, "stderr", b"") or b""
        reason = detail.decode(errors="replace")[-800:]
        print(f"cannot install {' '.join(packages)} ({exc}): {reason}")
        return None
    return target if target.exists() else None
