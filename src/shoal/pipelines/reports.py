"""Summaries of recorded runs for people: per-step counts, timings, metrics, comparisons."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from statistics import fmean

from shoal.pipelines.records import ItemRecord, ItemStatus, RunRecord, StepRecord


@dataclass(frozen=True, slots=True)
class StepSummary:
    """One step of a run as ``runs show`` prints it."""

    name: str
    status: str
    fan_out: bool
    items: int | None
    succeeded: int
    failed: int
    retrying: int
    reused: int
    seconds: float | None
    item_seconds_mean: float | None
    metrics: dict[str, float] = field(default_factory=dict)
    """Each metric's mean over the step's succeeded items."""
    output: str | None = None
    """The output digest; for a fan-out, the digest of its items' output digests."""
    error: str = ""


def summarize_steps(
    run: RunRecord, steps: Sequence[StepRecord], items: Sequence[ItemRecord]
) -> list[StepSummary]:
    by_step: dict[str, list[ItemRecord]] = {}
    for item in items:
        by_step.setdefault(item.step, []).append(item)
    summaries = []
    for step in steps:
        mine = by_step.get(step.name, [])
        ok = [i for i in mine if i.status is ItemStatus.SUCCEEDED]
        seconds = None
        if step.started_at and step.finished_at:
            seconds = (step.finished_at - step.started_at).total_seconds()
        durations = [(i.finished_at - i.started_at).total_seconds() for i in ok]
        names = sorted({name for i in ok for name in i.metrics})
        metrics = {n: fmean([i.metrics[n] for i in ok if n in i.metrics]) for n in names}
        summaries.append(
            StepSummary(
                name=step.name,
                status=step.status.value,
                fan_out=step.fan_out,
                items=step.items,
                succeeded=len(ok),
                failed=sum(1 for i in mine if i.status is ItemStatus.FAILED),
                retrying=sum(1 for i in mine if i.status is ItemStatus.RETRYING),
                reused=sum(1 for i in ok if i.reused_from),
                seconds=seconds,
                item_seconds_mean=fmean(durations) if durations else None,
                metrics=metrics,
                output=_output_digest(step, ok),
                error=step.error,
            )
        )
    return summaries


def _output_digest(step: StepRecord, ok: Sequence[ItemRecord]) -> str | None:
    if step.items is None or len(ok) != step.items:
        return None
    digests = [i.output.digest if i.output else "-" for i in sorted(ok, key=lambda i: i.index)]
    if not step.fan_out:
        return digests[0] if digests else None
    return hashlib.sha256(",".join(digests).encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Difference:
    """One compared figure of two runs; ``same`` says whether they agree."""

    what: str
    left: str
    right: str
    same: bool


def compare_runs(
    left: tuple[RunRecord, Sequence[StepSummary]], right: tuple[RunRecord, Sequence[StepSummary]]
) -> list[Difference]:
    """Parameters, then per step: status, duration, metrics and output digests, side by side."""
    (run_a, steps_a), (run_b, steps_b) = left, right
    rows: list[Difference] = []
    for name in sorted(set(run_a.params) | set(run_b.params)):
        a, b = run_a.params.get(name, "-"), run_b.params.get(name, "-")
        rows.append(Difference(f"param {name}", str(a), str(b), a == b))
    rows.append(
        Difference("status", run_a.status.value, run_b.status.value, run_a.status == run_b.status)
    )
    by_a = {s.name: s for s in steps_a}
    by_b = {s.name: s for s in steps_b}
    for name in [*by_a, *(n for n in by_b if n not in by_a)]:
        a_step, b_step = by_a.get(name), by_b.get(name)
        rows.append(
            _pair(
                f"{name} status",
                a_step.status if a_step else None,
                b_step.status if b_step else None,
            )
        )
        rows.append(
            Difference(
                f"{name} seconds",
                _seconds(a_step.seconds if a_step else None),
                _seconds(b_step.seconds if b_step else None),
                True,
            )
        )
        metrics = sorted(
            set(a_step.metrics if a_step else {}) | set(b_step.metrics if b_step else {})
        )
        for metric in metrics:
            a_value = a_step.metrics.get(metric) if a_step else None
            b_value = b_step.metrics.get(metric) if b_step else None
            rows.append(
                Difference(
                    f"{name} {metric}", _number(a_value), _number(b_value), a_value == b_value
                )
            )
        a_out, b_out = (a_step.output if a_step else None), (b_step.output if b_step else None)
        rows.append(
            Difference(
                f"{name} output",
                (a_out or "-")[:12],
                (b_out or "-")[:12],
                a_out == b_out and a_out is not None,
            )
        )
    return rows


def _pair(what: str, a: str | None, b: str | None) -> Difference:
    return Difference(what, a or "-", b or "-", a == b)


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.6g}"
