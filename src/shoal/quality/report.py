"""The outcome of checking a DataFrame: one result per expectation, and a verdict for the run."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from shoal.errors import DataQualityError
from shoal.quality.expectations import Severity

MAX_EXAMPLES = 5
"""Failing values kept per expectation: enough to see what is wrong, small enough to store."""


@dataclass(frozen=True, slots=True)
class ExpectationResult:
    """How one expectation fared: how many values failed, a few of them, and why."""

    expectation: str
    severity: Severity
    passed: bool
    failures: int = 0
    examples: tuple[str, ...] = ()
    message: str = ""


@dataclass(frozen=True, slots=True)
class QualityReport:
    """Every expectation's result on one frame; ``passed`` is False only if a FAIL one failed."""

    suite: str
    rows: int
    checked_at: datetime
    results: tuple[ExpectationResult, ...] = field(default_factory=tuple)

    @property
    def passed(self) -> bool:
        return not self.errors

    @property
    def errors(self) -> tuple[ExpectationResult, ...]:
        """Failed expectations that fail the run."""
        return tuple(r for r in self.results if not r.passed and r.severity is Severity.FAIL)

    @property
    def warnings(self) -> tuple[ExpectationResult, ...]:
        """Failed expectations that only warn."""
        return tuple(r for r in self.results if not r.passed and r.severity is Severity.WARN)

    def summary(self) -> str:
        """One line per expectation, for logs, notebooks and step errors."""
        lines = [
            f"data quality {self.suite!r} on {self.rows} rows: "
            f"{'passed' if self.passed else 'FAILED'} "
            f"({len(self.errors)} failed, {len(self.warnings)} warnings, "
            f"{len(self.results)} expectations)"
        ]
        for result in self.results:
            mark = (
                "ok  "
                if result.passed
                else ("FAIL" if result.severity is Severity.FAIL else "warn")
            )
            line = f"  {mark} {result.expectation}"
            if not result.passed:
                line += f": {result.message}"
                if result.examples:
                    line += f" (e.g. {', '.join(result.examples)})"
            lines.append(line)
        return "\n".join(lines)

    def raise_for_failures(self) -> QualityReport:
        """``self`` when no FAIL expectation failed, else ``DataQualityError`` with the summary."""
        if not self.passed:
            raise DataQualityError(self.summary(), self)
        return self
