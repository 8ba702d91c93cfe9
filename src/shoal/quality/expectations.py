"""Declarative expectations on a DataFrame: what the data must look like, and how much it matters.

Each expectation is a frozen record; ``shoal.quality.suite`` turns it into a pandera schema and
runs it. ``severity`` decides what a failure does: ``FAIL`` fails the check (and the step that
runs it), ``WARN`` is only reported.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

import pandas as pd

from shoal.errors import ValidationError

CheckResult = bool | pd.Series
"""What a custom check returns: one verdict for the frame, or one per row (False: a bad row)."""


class Severity(StrEnum):
    """What a failing expectation does to the run."""

    FAIL = "fail"
    WARN = "warn"


@dataclass(frozen=True, slots=True)
class Schema:
    """The columns and their dtypes (``int64``, ``float64``, ``str``, ``datetime64[ns]``...).

    ``strict`` also refuses columns that are not listed.
    """

    columns: Mapping[str, str]
    strict: bool = False
    severity: Severity = Severity.FAIL

    @property
    def name(self) -> str:
        return "schema(" + ", ".join(f"{c}: {t}" for c, t in self.columns.items()) + ")"


@dataclass(frozen=True, slots=True)
class NotNull:
    """No missing value in any of ``columns``."""

    columns: Sequence[str]
    severity: Severity = Severity.FAIL

    @property
    def name(self) -> str:
        return f"not_null({', '.join(self.columns)})"


@dataclass(frozen=True, slots=True)
class InRange:
    """Every value of ``column`` lies within [``min``, ``max``] (either bound may be open)."""

    column: str
    min: float | None = None
    max: float | None = None
    severity: Severity = Severity.FAIL

    def __post_init__(self) -> None:
        if self.min is None and self.max is None:
            raise ValidationError(f"in_range({self.column}) needs min, max or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValidationError(
                f"in_range({self.column}): min {self.min} is greater than max {self.max}"
            )

    @property
    def name(self) -> str:
        low = "-inf" if self.min is None else self.min
        high = "inf" if self.max is None else self.max
        return f"in_range({self.column}, {low}, {high})"


@dataclass(frozen=True, slots=True)
class AllowedValues:
    """Every value of ``column`` is one of ``values``."""

    column: str
    values: Sequence[object]
    severity: Severity = Severity.FAIL

    @property
    def name(self) -> str:
        return f"allowed_values({self.column})"


@dataclass(frozen=True, slots=True)
class Unique:
    """No two rows share the same values in ``columns`` (one column, or a composite key)."""

    columns: Sequence[str]
    severity: Severity = Severity.FAIL

    @property
    def name(self) -> str:
        return f"unique({', '.join(self.columns)})"


@dataclass(frozen=True, slots=True)
class RowCount:
    """The frame has between ``min`` and ``max`` rows."""

    min: int | None = None
    max: int | None = None
    severity: Severity = Severity.FAIL

    def __post_init__(self) -> None:
        if self.min is None and self.max is None:
            raise ValidationError("row_count needs min, max or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValidationError(f"row_count: min {self.min} is greater than max {self.max}")

    @property
    def name(self) -> str:
        return f"row_count({self.min if self.min is not None else 0}..{self.max or ''})"


@dataclass(frozen=True, slots=True)
class Custom:
    """A named check of your own: ``check(frame)`` returns a bool, or a bool per row."""

    label: str
    check: Callable[[pd.DataFrame], CheckResult] = field(compare=False)
    severity: Severity = Severity.FAIL

    @property
    def name(self) -> str:
        return self.label


Expectation = Schema | NotNull | InRange | AllowedValues | Unique | RowCount | Custom
"""Every kind of expectation a suite may hold."""
