"""The research notebook as a pipeline step: check the day's data, then run the report.

    shoal pipelines run examples/research/pipeline.py:daily -p day=2024-01-02
    shoal schedules add examples/research/pipeline.py:daily --cron "0 6 * * *" \
        --timezone Europe/Paris -p day=2024-01-02
"""

from __future__ import annotations

from pathlib import Path

from shoal.jobs.steps import NotebookSummary, notebook_step
from shoal.pipelines.dsl import pipeline, step
from shoal.quality import ExpectationSuite, InRange, NotNull, RowCount

HERE = Path(__file__).resolve().parent

report = notebook_step(HERE / "daily_report.ipynb", max_runtime_s=600)

COUNTS = ExpectationSuite(
    "counts", [NotNull(["day", "stop", "riders"]), InRange("riders", min=0), RowCount(min=1)]
)


@step
def check_counts(day: str) -> int:
    """Fail the run before the report if the day's counts break an expectation."""
    import pandas as pd

    counts = pd.read_csv(HERE / "data" / "counts.csv")
    day_counts = counts[counts["day"] == day]
    COUNTS.check(day_counts)
    return len(day_counts)


@step
def cost(summary: NotebookSummary) -> float:
    """The report's CPU seconds (what a run of it costs)."""
    value = summary.get("cpu_s")
    return float(value) if isinstance(value, int | float) else 0.0


@pipeline
def daily(day: str = "2024-01-01") -> None:
    rows = check_counts(day)
    summary = report(day=day, min_riders=0)
    cost(summary)
    del rows
