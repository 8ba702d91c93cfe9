import json
from pathlib import Path

import pytest

from shoal.errors import ValidationError
from shoal.jobs.parameters import expand, parse_assignments, parse_scalar, read_grid


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("3", 3),
        ("-2", -2),
        ("0.5", 0.5),
        ("true", True),
        ("null", None),
        ("2024-01-01", "2024-01-01"),
        ("007", "007"),
        ('"a,b"', "a,b"),
        ("acme", "acme"),
        ("nan", "nan"),
    ],
)
def test_a_value_is_parsed_as_the_json_scalar_it_spells_else_kept_as_text(
    text: str, value: object
) -> None:
    assert parse_scalar(text) == value


def test_a_date_range_fans_out_over_every_day_both_ends_included() -> None:
    axes = parse_assignments(["day=2024-01-30..2024-02-02"])
    assert axes == {"day": ["2024-01-30", "2024-01-31", "2024-02-01", "2024-02-02"]}


def test_lists_and_ranges_fan_out_over_their_product_in_order() -> None:
    points = expand(parse_assignments(["customer=acme,globex", "n=1..2", "mode=fast"]))
    assert points == [
        {"customer": "acme", "n": 1, "mode": "fast"},
        {"customer": "acme", "n": 2, "mode": "fast"},
        {"customer": "globex", "n": 1, "mode": "fast"},
        {"customer": "globex", "n": 2, "mode": "fast"},
    ]


@pytest.mark.parametrize(
    ("assignment", "words"),
    [
        ("day", "key=value"),
        ("2day=1", "not a Python identifier"),
        ("day=2024-02-01..2024-01-01", "ends before it starts"),
        ("day=2024-02-30..2024-03-01", "2024-02-30"),
        ("n=1..100000", "at most"),
        ("xs=[1, [2]]", "scalars"),
    ],
)
def test_bad_parameters_are_refused_naming_the_value(assignment: str, words: str) -> None:
    with pytest.raises(ValidationError, match=words.replace("[", r"\[")):
        parse_assignments([assignment])


def test_a_parameter_given_twice_is_refused() -> None:
    with pytest.raises(ValidationError, match="'day' is given twice"):
        parse_assignments(["day=1", "day=2"])


def test_grid_files_give_points_as_lists_products_or_csv_rows(tmp_path: Path) -> None:
    listed = tmp_path / "points.json"
    listed.write_text(json.dumps([{"customer": "acme"}, {"customer": "globex"}]))
    product = tmp_path / "product.json"
    product.write_text(json.dumps({"customer": ["acme", "globex"], "n": [1, 2]}))
    rows = tmp_path / "points.csv"
    rows.write_text("customer,n\nacme,1\nglobex,2\n")
    assert read_grid(listed) == [{"customer": "acme"}, {"customer": "globex"}]
    assert len(read_grid(product)) == 4
    assert read_grid(rows) == [{"customer": "acme", "n": 1}, {"customer": "globex", "n": 2}]
    points = expand(parse_assignments(["day=2024-01-01..2024-01-02"]), read_grid(listed))
    assert points[1] == {"customer": "acme", "day": "2024-01-02"}
    assert len(points) == 4


def test_a_parameter_both_in_the_grid_file_and_on_the_command_line_is_refused(
    tmp_path: Path,
) -> None:
    grid = tmp_path / "grid.csv"
    grid.write_text("day\n2024-01-01\n")
    with pytest.raises(ValidationError, match="day"):
        expand(parse_assignments(["day=2024-01-02"]), read_grid(grid))
