"""``shoal demo``: per-tenant anomaly detectors on real 5-minute data, registered and served."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.progress import Progress

from shoal.cli.output import console, print_rows
from shoal.cli.state import client, state
from shoal.client import Client
from shoal.pipelines.records import RunStatus
from shoal.wiring import build_runner

MODEL = "log-anomaly"


def _ensure_tenants(shoal: Client, names: list[str]) -> None:
    existing = {tenant.name for tenant in shoal.iter_tenants()}
    for name in names:
        if name not in existing:
            shoal.create_tenant(name, "demo tenant: bank_calls day-part as a log stream")


def run(
    ctx: typer.Context,
    tenants: Annotated[int, typer.Option(help="How many tenants (1-328).", min=1, max=328)] = 300,
    seed: Annotated[int, typer.Option(help="Random seed for models and injected anomalies.")] = 7,
    requests: Annotated[
        int, typer.Option(help="Inference requests to send (0: do not serve).", min=0)
    ] = 3000,
    memory_budget: Annotated[
        str, typer.Option(help="The server's model memory budget (small, to show eviction).")
    ] = "32MiB",
) -> None:
    """Train a detector per tenant on real data through a pipeline, then serve them traffic."""

    from shoal.pipelines.templates.tenant_detectors import bank_call_streams, tenant_detectors
    from shoal.solutions.anomaly.detector import inject_anomalies
    from shoal.solutions.anomaly.features import bucket_features

    shoal = client(ctx)
    streams = bank_call_streams()  # loaded before the pool forks, so workers share it
    names = list(streams)[:tenants]
    console.print(
        f"[bold]Shoal demo[/bold]: {len(names)} tenants, one anomaly detector each, "
        "trained on real 5-minute call volumes (fpp3::bank_calls)",
        highlight=False,
    )
    _ensure_tenants(shoal, names)
    settings = state(ctx).settings()
    runner = build_runner(settings, shoal.services)
    began = time.perf_counter()
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("pipeline: train + register per tenant", total=len(names) + 1)

        def advance(finished: int, known: int) -> None:
            progress.update(task, completed=finished, total=max(known, len(names) + 1))

        run = runner.run(
            tenant_detectors,
            {"limit": len(names), "seed": seed, "model": MODEL},
            progress=advance,
        )
    seconds = time.perf_counter() - began
    if run.status is not RunStatus.SUCCEEDED:
        console.print(f"pipeline run {run.id} failed: {run.error}", style="red", markup=False)
        raise typer.Exit(1)
    items = runner.store.list_items(run.id, "train_tenant_detector")
    registered = sum(len(item.registered) for item in items)
    f1_scores = [item.metrics["f1"] for item in items]
    snapshots = runner.store.list_snapshots(run.id)
    rng = np.random.default_rng(seed)
    total = sum(1 for _ in shoal.iter_models(prefix=None))
    page = shoal.list_models(limit=10)
    print_rows(
        f"First models of {total} registered",
        ["model", "latest", "aliases"],
        [[f"{m.tenant}/{m.name}", m.latest_version, ", ".join(m.aliases)] for m in page.items],
    )
    example = f"{names[0]}/{MODEL}@production"
    lookups = 200
    began = time.perf_counter()
    for _ in range(lookups):
        version = shoal.get_version(example)
    lookup_ms = (time.perf_counter() - began) / lookups * 1000
    injected, labels = inject_anomalies(streams[names[0]], rng)
    flags = shoal.predict(example, bucket_features(injected))["label"]
    rows_by_tenant = [bucket_features(streams[name]).to_numpy() for name in names]
    workers = settings.pipeline_workers or os.cpu_count() or 1
    console.print(
        f"registered {registered} versions in {seconds:.1f} s "
        f"({registered / max(seconds, 1e-9):.0f}/s) through pipeline run {run.id} "
        f"({len(items)} fan-out items on {workers} local workers, {len(snapshots)} data "
        f"snapshots; see `shoal runs show {run.id}`)\n"
        f"{example} lineage: run {version.lineage.run_id}, "
        f"snapshot {(version.lineage.snapshot_id or '-')[:12]}\n"
        f"mean F1 on injected anomalies: {float(np.mean(f1_scores)):.2f}\n"
        f"{example} -> {version.ref} (alias lookup {lookup_ms:.2f} ms); it flags "
        f"{int((flags == -1).sum())} of {len(flags)} buckets, {int(labels.sum())} were injected",
        highlight=False,
    )
    if requests:
        _serve_and_drive(
            shoal, state(ctx).settings().home, names, rows_by_tenant, requests, memory_budget, seed
        )


def _serve_and_drive(
    shoal: Client,
    home: Path,
    names: list[str],
    rows_by_tenant: list[np.ndarray],
    requests: int,
    memory_budget: str,
    seed: int,
) -> None:
    """Serve every tenant's detector from one process and send it Zipf traffic of real rows."""
    from shoal.cli.demo_traffic import (
        percentile,
        probe_access,
        running_server,
        send_traffic,
        zipf_picks,
    )

    _, admin_token = shoal.create_key("demo-traffic")
    _, tenant_token = shoal.create_key("demo-tenant", tenant=names[0])
    burst = 5
    shoal.set_plan(names[0], rate_per_s=1.0, burst=burst, quota_per_day=10_000)
    rng = np.random.default_rng(seed)
    picks = zipf_picks(requests, len(names), s=1.1, seed=seed)
    paths = [f"/v2/models/{names[i]}/{MODEL}/infer" for i in picks]
    rows = [rows_by_tenant[i][rng.integers(len(rows_by_tenant[i]))].tolist() for i in picks]
    console.print(
        f"\n[bold]Serving[/bold] all {len(names)} detectors from one `shoal serve` process with a "
        f"{memory_budget} memory budget; sending {requests:,} requests (Zipf s=1.1 over "
        "tenants, 8 concurrent, one real 5-minute bucket each)",
        highlight=False,
    )
    with running_server(home, memory_budget) as url:
        report = send_traffic(url, paths, rows, admin_token)
        access = probe_access(
            url,
            tenant_token,
            f"/v2/models/{names[0]}/{MODEL}/infer",
            f"/v2/models/{names[1]}/{MODEL}/infer",
            rows[0],
            burst,
        )
    hits, misses = report.latency_ms["hit"], report.latency_ms["miss"]
    cache = report.cache
    print_rows(
        "Serving",
        ["figure", "value"],
        [
            ["requests (errors)", f"{report.requests:,} ({report.errors})"],
            ["throughput", f"{report.requests / max(report.seconds, 1e-9):,.0f} req/s"],
            [
                "cache hits: p50 / p99",
                f"{len(hits):,}: {percentile(hits, 50):.1f} / {percentile(hits, 99):.1f} ms",
            ],
            [
                "cache misses (loads): p50 / p99",
                f"{len(misses):,}: {percentile(misses, 50):.1f} / {percentile(misses, 99):.1f} ms",
            ],
            [
                "resident models / bytes",
                f"{cache['resident_models']} / "
                f"{int(str(cache['resident_bytes'])) / 2**20:.1f} MiB of "
                f"{int(str(cache['budget_bytes'])) / 2**20:.0f} MiB",
            ],
            ["evictions", str(cache["evictions"])],
            ["buckets flagged anomalous", f"{report.flagged:,}"],
        ],
    )
    print_rows(
        f"A key of tenant {names[0]} (plan: 1/s, burst {burst})",
        ["call", "answer"],
        [
            ["its own model", str(access["own"])],
            [f"{names[1]}'s model", str(access["other"])],
            ["no key at all", str(access["no key"])],
            ["over its plan", str(access["limited"])],
        ],
    )
