"""Data quality: declarative expectations on DataFrames, checked as a step, one report a run."""

from shoal.quality.expectations import (
    AllowedValues,
    Custom,
    Expectation,
    InRange,
    NotNull,
    RowCount,
    Schema,
    Severity,
    Unique,
)
from shoal.quality.report import ExpectationResult, QualityReport
from shoal.quality.suite import ExpectationSuite

__all__ = [
    "AllowedValues",
    "Custom",
    "Expectation",
    "ExpectationResult",
    "ExpectationSuite",
    "InRange",
    "NotNull",
    "QualityReport",
    "RowCount",
    "Schema",
    "Severity",
    "Unique",
]
