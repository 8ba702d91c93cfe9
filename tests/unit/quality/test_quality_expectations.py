import pandas as pd
import pytest

from shoal.errors import DataQualityError, ValidationError
from shoal.quality import (
    AllowedValues,
    Custom,
    ExpectationSuite,
    InRange,
    NotNull,
    RowCount,
    Schema,
    Severity,
    Unique,
)


@pytest.fixture
def counts() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "stop": ["a", "b", "c", "c"],
            "riders": [3.0, -1.0, None, 12.0],
            "line": ["1", "2", "9", "1"],
        }
    )


def test_clean_data_passes_every_expectation(counts: pd.DataFrame) -> None:
    clean = counts.dropna().query("riders >= 0").drop_duplicates("stop")
    suite = ExpectationSuite(
        "counts",
        [
            Schema({"stop": "str", "riders": "float64"}),
            NotNull(["stop", "riders"]),
            InRange("riders", min=0),
            Unique(["stop"]),
            RowCount(min=1, max=10),
            Custom("riders below 100", lambda f: f["riders"] < 100),
        ],
    )
    report = suite.check(clean)
    assert report.passed
    assert [r.passed for r in report.results] == [True] * 6


def test_each_failure_is_reported_with_its_count_and_examples(counts: pd.DataFrame) -> None:
    suite = ExpectationSuite(
        "counts",
        [
            NotNull(["riders"]),
            InRange("riders", min=0, max=10),
            Unique(["stop"]),
            RowCount(min=10),
            Schema({"stop": "str", "weather": "str"}),
        ],
    )
    report = suite.validate(counts)
    by_name = {r.expectation: r for r in report.results}
    assert not report.passed
    assert by_name["not_null(riders)"].failures == 1
    assert by_name["in_range(riders, 0, 10)"].failures == 2
    assert "riders=-1.0 at row 1" in by_name["in_range(riders, 0, 10)"].examples
    assert by_name["unique(stop)"].failures == 2
    assert by_name["row_count(10..)"].message == "the frame has 4 rows"
    assert "missing column(s): weather" in by_name["schema(stop: str, weather: str)"].message


def test_a_warning_expectation_is_reported_but_does_not_fail_the_check(
    counts: pd.DataFrame,
) -> None:
    suite = ExpectationSuite(
        "lines", [AllowedValues("line", ["1", "2"], severity=Severity.WARN), NotNull(["stop"])]
    )
    report = suite.check(counts)
    assert report.passed
    assert [w.expectation for w in report.warnings] == ["allowed_values(line)"]
    assert "warn allowed_values(line)" in report.summary()


def test_a_failing_expectation_fails_the_check_with_the_report(counts: pd.DataFrame) -> None:
    suite = ExpectationSuite("counts", [InRange("riders", min=0)])
    with pytest.raises(DataQualityError, match=r"FAIL in_range\(riders, 0, inf\)") as caught:
        suite.check(counts)
    assert caught.value.report.errors[0].failures == 1  # type: ignore[attr-defined]


def test_custom_checks_count_bad_rows_and_a_raising_check_fails_cleanly(
    counts: pd.DataFrame,
) -> None:
    suite = ExpectationSuite(
        "custom",
        [
            Custom("known lines", lambda f: f["line"] != "9"),
            Custom("total small", lambda f: f["riders"].sum() < 5),
            Custom("explodes", lambda f: 1 / 0 > 0),
        ],
    )
    results = {r.expectation: r for r in suite.validate(counts).results}
    assert results["known lines"].failures == 1
    assert results["known lines"].examples == ("row 2",)
    assert results["total small"].message == "returned False"
    assert "ZeroDivisionError" in results["explodes"].message


def test_malformed_expectations_are_refused() -> None:
    with pytest.raises(ValidationError, match="min 5 is greater than max 1"):
        InRange("x", min=5, max=1)
    with pytest.raises(ValidationError, match="needs min, max or both"):
        RowCount()
    with pytest.raises(ValidationError, match="has no expectations"):
        ExpectationSuite("empty", [])
