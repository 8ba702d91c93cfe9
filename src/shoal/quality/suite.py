"""``ExpectationSuite``: checks a DataFrame against its expectations with pandera underneath.

Each expectation becomes its own small pandera schema, validated lazily, so every failure is
attributed to the expectation that caught it and all of them are reported in one pass.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaError, SchemaErrors

from shoal.errors import ValidationError
from shoal.quality.expectations import (
    AllowedValues,
    CheckResult,
    Custom,
    Expectation,
    InRange,
    NotNull,
    RowCount,
    Schema,
    Unique,
)
from shoal.quality.report import MAX_EXAMPLES, ExpectationResult, QualityReport

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ExpectationSuite:
    """A named set of expectations, checked together.

    >>> suite = ExpectationSuite("counts", [NotNull(["stop"]), InRange("riders", min=0)])
    >>> suite.check(frame)            # doctest: +SKIP  (raises DataQualityError on a FAIL)
    """

    name: str
    expectations: Sequence[Expectation]

    def __post_init__(self) -> None:
        if not self.expectations:
            raise ValidationError(f"expectation suite {self.name!r} has no expectations")

    def validate(self, frame: pd.DataFrame, now: datetime | None = None) -> QualityReport:
        """Every expectation's result; never raises for bad data (see ``check``)."""
        if not isinstance(frame, pd.DataFrame):
            raise ValidationError(
                f"suite {self.name!r} checks a pandas DataFrame, got {type(frame).__name__}"
            )
        results = tuple(_run(expectation, frame) for expectation in self.expectations)
        report = QualityReport(self.name, len(frame), now or datetime.now(UTC), results)
        for warning in report.warnings:
            logger.warning(
                "data quality %r: %s: %s", self.name, warning.expectation, warning.message
            )
        return report

    def check(self, frame: pd.DataFrame) -> QualityReport:
        """The report, or ``DataQualityError`` when an expectation with severity FAIL failed."""
        return self.validate(frame).raise_for_failures()


def _run(expectation: Expectation, frame: pd.DataFrame) -> ExpectationResult:
    schema = _schema(expectation)
    try:
        schema.validate(frame, lazy=True)
    except SchemaErrors as exc:
        return _failed(expectation, exc.failure_cases, len(frame))
    except SchemaError as exc:
        return ExpectationResult(expectation.name, expectation.severity, False, 1, (), str(exc))
    return ExpectationResult(expectation.name, expectation.severity, True)


def _failed(expectation: Expectation, cases: pd.DataFrame, rows: int) -> ExpectationResult:
    name, severity = expectation.name, expectation.severity
    missing = [str(c) for c in cases.loc[cases["check"] == "column_in_dataframe", "failure_case"]]
    if missing:
        message = f"missing column(s): {', '.join(missing)}"
        return ExpectationResult(name, severity, False, len(missing), (), message)
    if isinstance(expectation, RowCount):
        return ExpectationResult(name, severity, False, 1, (), f"the frame has {rows} rows")
    if isinstance(expectation, Custom):
        # A frame-level check reports every column of a failing row: count rows, not cells.
        indexes = [i for i in cases["index"] if i is not None and not pd.isna(i)]
        if not indexes:
            reason = str(cases["failure_case"].iloc[0])
            message = "returned False" if reason == "False" else f"the check raised {reason}"
            return ExpectationResult(name, severity, False, 1, (), message)
        bad = sorted(set(indexes), key=str)
        examples = tuple(f"row {i}" for i in bad[:MAX_EXAMPLES])
        return ExpectationResult(name, severity, False, len(bad), examples, f"{len(bad)} row(s)")
    checks = ", ".join(sorted({str(check) for check in cases["check"]}))
    examples = tuple(_example(row) for row in cases.head(MAX_EXAMPLES).itertuples(index=False))
    message = f"{len(cases)} failing value(s) for {checks}"
    return ExpectationResult(name, severity, False, len(cases), examples, message)


def _example(row: object) -> str:
    value = getattr(row, "failure_case", None)
    index = getattr(row, "index", None)
    column = getattr(row, "column", None)
    where = f"row {index}" if index is not None and not pd.isna(index) else "frame"
    what = f"{column}=" if isinstance(column, str) else ""
    return f"{what}{value!r} at {where}"


def _schema(expectation: Expectation) -> pa.DataFrameSchema:
    match expectation:
        case Schema(columns=columns, strict=strict):
            return pa.DataFrameSchema(
                {name: pa.Column(dtype, nullable=True) for name, dtype in columns.items()},
                strict=strict,
            )
        case NotNull(columns=columns):
            return pa.DataFrameSchema({c: pa.Column(nullable=False) for c in columns})
        case InRange(column=column, min=low, max=high):
            check = (
                pa.Check.in_range(low, high)
                if low is not None and high is not None
                else pa.Check.ge(low)
                if low is not None
                else pa.Check.le(high)
            )
            return pa.DataFrameSchema({column: pa.Column(checks=check, nullable=True)})
        case AllowedValues(column=column, values=values):
            return pa.DataFrameSchema(
                {column: pa.Column(checks=pa.Check.isin(list(values)), nullable=True)}
            )
        case Unique(columns=columns):
            return pa.DataFrameSchema(
                {c: pa.Column(nullable=True) for c in columns}, unique=list(columns)
            )
        case RowCount(min=low, max=high):
            return pa.DataFrameSchema(checks=pa.Check(_row_count(low, high), name=expectation.name))
        case Custom(label=label, check=check):
            return pa.DataFrameSchema(checks=pa.Check(_custom(check), name=label))
    raise ValidationError(f"unknown expectation {expectation!r}")


def _row_count(low: int | None, high: int | None) -> Callable[[pd.DataFrame], bool]:
    def check(frame: pd.DataFrame) -> bool:
        rows = len(frame)
        return (low is None or rows >= low) and (high is None or rows <= high)

    return check


def _custom(check: Callable[[pd.DataFrame], CheckResult]) -> Callable[[pd.DataFrame], CheckResult]:
    def run(frame: pd.DataFrame) -> CheckResult:
        verdict = check(frame)
        if isinstance(verdict, pd.Series):
            return verdict
        if isinstance(verdict, bool | np.bool_):
            return bool(verdict)
        raise ValidationError(
            f"a custom check must return a bool or a bool Series, got {type(verdict).__name__}"
        )

    return run
