"""Pipelines benchmark: empty-step overhead, fan-out throughput, 1,000 real models, vs Prefect.

Runs on the embedded defaults in a temporary home (SQLite metadata, a local artifact folder),
the local executor with one worker process per core, every item recorded as it is in
production (batched transactions, outputs stored by type):

- a chain of ``CHAIN`` empty steps, one after another: latency per step;
- fan-outs of empty items (1,000 and 10,000 by default): items/s and ms per item;
- an end-to-end run that trains and registers ``--models`` isolation forests on real data
  (fpp3::bank_calls: 328 tenant streams x up to 4 variants), each item snapshotting its data and
  registering its model with lineage;
- Prefect 3 on the same fan-out and chain, in its own virtualenv under
  ``~/.cache/shoal-bench/prefect-venv`` (created on first use), and the ratios.

    .venv/bin/python bench/pipelines/bench_pipelines.py
    .venv/bin/python bench/pipelines/bench_pipelines.py --items 1000 --models 100 --no-prefect
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from shoal.client import Client
from shoal.pipelines import Runner, RunStatus, load_pipeline
from shoal.settings import Settings
from shoal.wiring import build_runner

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench/: the shared venv helper
import venvs

HERE = Path(__file__).resolve().parent

FLOWS = f"{HERE / 'bench_flows.py'}"
# Prefect 3.8's server still passes ``min_items`` to FastAPI's ``Body``, which FastAPI >= 0.116
# rejects at import; pinning FastAPI lets pip settle on a Prefect 3 that starts.
PREFECT = ("prefect>=3,<4", "fastapi<0.116")


def timed_run(runner: Runner, reference: str, params: dict[str, object]) -> tuple[float, str]:
    pipeline = load_pipeline(reference)
    began = time.perf_counter()
    run = runner.run(pipeline, params)
    seconds = time.perf_counter() - began
    if run.status is not RunStatus.SUCCEEDED:
        raise SystemExit(f"{reference} failed: {run.error}")
    return seconds, run.id


def prefect_figures(items: int, chain: int) -> dict[str, object] | None:
    python = venvs.ensure_venv("prefect-venv", PREFECT)
    if python is None:
        return None
    with tempfile.TemporaryDirectory(prefix="prefect-home-") as home:
        env = {
            **os.environ,
            "PREFECT_HOME": home,  # a fresh ephemeral server and database
            "PREFECT_LOGGING_LEVEL": "WARNING",
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",  # no network here
            "DO_NOT_TRACK": "1",
        }
        env.pop("PREFECT_API_URL", None)
        done = subprocess.run(
            [
                str(python),
                str(HERE / "prefect_side.py"),
                "--items",
                str(items),
                "--chain",
                str(chain),
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
    if done.returncode != 0:
        print(f"prefect failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
        return None
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, action="append", help="fan-out sizes (repeat)")
    parser.add_argument("--models", type=int, default=1000, help="models trained end to end")
    parser.add_argument("--prefect-items", type=int, default=1000)
    parser.add_argument("--prefect-chain", type=int, default=50)
    parser.add_argument("--no-prefect", action="store_true")
    parser.add_argument("--workers", type=int, default=None, help="default: one per core")
    args = parser.parse_args()
    sizes = args.items or [1000, 10_000]
    print(
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}"
    )
    figures: dict[str, object] = {}
    with tempfile.TemporaryDirectory(prefix="shoal-bench-pipelines-") as tmp:
        settings = Settings(home=Path(tmp) / "home", pipeline_workers=args.workers)
        with Client(settings, actor="bench") as client:
            runner = build_runner(settings, client.services)
            timed_run(runner, f"{FLOWS}:empty_fan_out", {"count": 100})  # warm-up
            seconds, _ = timed_run(runner, f"{FLOWS}:empty_chain", {})
            from bench_flows import CHAIN

            figures["chain_ms_per_step"] = seconds / (CHAIN + 1) * 1000
            print(
                f"chain of {CHAIN + 1} empty steps: {seconds:.2f} s, "
                f"{figures['chain_ms_per_step']:.2f} ms per step"
            )
            for size in sizes:
                seconds, _ = timed_run(runner, f"{FLOWS}:empty_fan_out", {"count": size})
                figures[f"fan_out_{size}_items_per_s"] = size / seconds
                figures[f"fan_out_{size}_ms_per_item"] = seconds / size * 1000
                print(
                    f"fan-out of {size:,} empty items: {seconds:.2f} s, "
                    f"{size / seconds:,.0f} items/s, {seconds / size * 1000:.3f} ms per item"
                )
            if args.models:
                tenants = {name.split("/")[0] for name in _tenant_names(args.models)}
                for tenant in sorted(tenants):
                    client.create_tenant(tenant)
                seconds, run_id = timed_run(
                    runner, f"{FLOWS}:tenant_models", {"count": args.models}
                )
                versions = [
                    v
                    for m in client.iter_models(prefix=None)
                    for v in client.list_versions(f"{m.tenant}/{m.name}").items
                ]
                with_lineage = sum(
                    1 for v in versions if v.lineage.run_id == run_id and v.lineage.snapshot_id
                )
                figures["models"] = args.models
                figures["models_seconds"] = seconds
                figures["models_per_s"] = args.models / seconds
                print(
                    f"end to end: {args.models:,} per-tenant models trained on real data and "
                    f"registered in {seconds:.1f} s ({args.models / seconds:.1f} models/s); "
                    f"{with_lineage:,} versions carry run + snapshot lineage"
                )
    if not args.no_prefect:
        prefect = prefect_figures(args.prefect_items, args.prefect_chain)
        if prefect is not None:
            fan_out_s = float(str(prefect["fan_out_s"]))
            chain_s = float(str(prefect["chain_s"]))
            prefect_rate = args.prefect_items / fan_out_s
            prefect_ms = chain_s / args.prefect_chain * 1000
            figures["prefect"] = prefect
            print(
                f"Prefect {prefect['version']}: fan-out of {args.prefect_items:,} empty tasks "
                f"{fan_out_s:.2f} s ({prefect_rate:,.0f} tasks/s, "
                f"{fan_out_s / args.prefect_items * 1000:.2f} ms per task); chain "
                f"{prefect_ms:.2f} ms per task"
            )
            key = f"fan_out_{args.prefect_items}_items_per_s"
            if key in figures:
                ratio = float(str(figures[key])) / prefect_rate
                figures["ratio_fan_out"] = ratio
                print(f"ratio at {args.prefect_items:,} items: Shoal {ratio:.1f}x Prefect")
            chain_ratio = prefect_ms / float(str(figures["chain_ms_per_step"]))
            figures["ratio_chain"] = chain_ratio
            print(f"ratio per sequential step: Shoal {chain_ratio:.1f}x Prefect")
    print(json.dumps(figures, indent=2, default=str))


def _tenant_names(count: int) -> list[str]:
    from bench_flows import variant_models, variant_tenants

    tenants = variant_tenants.fn(count)
    models = variant_models.fn(count)
    return [f"{t}/{m}" for t, m in zip(tenants, models, strict=True)]


if __name__ == "__main__":
    main()
