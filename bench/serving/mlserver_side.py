"""Seldon MLServer on the same workload: its own virtualenv (never a Shoal dependency), a model
repository with one joblib model per tenant, and the ``mlserver start`` command line.

MLServer loads every model of its repository at start and keeps them all in memory, so the
benchmark caps how many it gets (``--mlserver-max-models``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench/: the shared venv helper
import venvs

VENV = Path.home() / ".cache" / "shoal-bench" / "mlserver-venv"
# uvloop 0.22 breaks MLServer 1.7.1's parallel workers at start ("There is no current event
# loop", SeldonIO/MLServer#2286): every model fails to load.
PACKAGES = ("mlserver==1.7.*", "mlserver-sklearn==1.7.*", "uvloop<0.22")


def model_name(tenant: str) -> str:
    """MLServer model names cannot contain '/': ``t00001/m`` becomes ``t00001__m``."""
    return f"{tenant}__m"


def ensure_venv() -> Path | None:
    """The venv's ``mlserver`` executable, creating the venv once; None (and why) on failure.

    scikit-learn is pinned to the version Shoal's venv runs so the joblib files load as trained.
    """
    import sklearn

    packages = (*PACKAGES, f"scikit-learn=={sklearn.__version__}")
    return venvs.ensure_venv(VENV.name, packages, executable="mlserver")


def version_of(mlserver: Path) -> str:
    python = mlserver.parent / "python"
    code = "import mlserver, sklearn; print(mlserver.__version__, sklearn.__version__)"
    done = subprocess.run(
        [str(python), "-c", code], check=False, capture_output=True, text=True, timeout=60
    )
    parts = done.stdout.split()
    return f"MLServer {parts[0]}, scikit-learn {parts[1]}" if len(parts) == 2 else "unknown"


def write_repository(
    root: Path,
    tenants: list[str],
    models: list[object],
    pool_index: list[int],
    *,
    http_port: int,
    grpc_port: int,
    metrics_port: int,
    parallel_workers: int,
) -> Path:
    """``root/settings.json`` and ``root/<name>/{model.joblib,model-settings.json}``.

    Tenant ``i`` gets a copy of ``models[pool_index[i]]``; the joblib file of each distinct model
    is written once and hard-linked (MLServer still loads each copy separately).
    """
    import joblib

    root.mkdir(parents=True, exist_ok=True)
    dumped: dict[int, Path] = {}
    for tenant, index in zip(tenants, pool_index, strict=True):
        name = model_name(tenant)
        folder = root / name
        folder.mkdir()
        target = folder / "model.joblib"
        if index in dumped:
            os.link(dumped[index], target)
        else:
            joblib.dump(models[index], target)
            dumped[index] = target
        settings = {
            "name": name,
            "implementation": "mlserver_sklearn.SKLearnModel",
            "parameters": {"uri": "./model.joblib", "version": "1"},
        }
        (folder / "model-settings.json").write_text(json.dumps(settings))
    server = {
        "debug": False,
        "host": "127.0.0.1",
        "http_port": http_port,
        "grpc_port": grpc_port,
        "metrics_port": metrics_port,
        "parallel_workers": parallel_workers,
        "load_models_at_startup": True,
    }
    (root / "settings.json").write_text(json.dumps(server))
    return root


def command(mlserver: Path, root: Path) -> list[str]:
    return [str(mlserver), "start", str(root)]
