"""The DSL and the graph: what is checked before anything runs, and how errors read."""

from __future__ import annotations

import pandas as pd
import pytest

from shoal.errors import ValidationError
from shoal.pipelines import Retry, each, pipeline, step
from shoal.pipelines.graph import Node, NodeInput, Parameter, Pipeline


@step
def load(day: str) -> pd.DataFrame:
    return pd.DataFrame({"day": [day]})


@step
def tenants(count: int) -> list[str]:
    return [f"t{i}" for i in range(count)]


@step(retry=Retry(attempts=3))
def train(tenant: str, frame: pd.DataFrame) -> float:
    return float(len(frame)) + len(tenant)


@step
def total(scores: list[float]) -> float:
    return sum(scores)


@step
def count_rows(counts: dict[str, int]) -> int:
    return sum(counts.values())


def test_a_step_outside_a_pipeline_is_a_plain_function() -> None:
    assert tenants(2) == ["t0", "t1"]
    assert train("ab", pd.DataFrame({"x": [1, 2]})) == 4.0


def test_a_pipeline_records_its_graph_in_run_order() -> None:
    @pipeline
    def nightly(day: str, count: int = 3) -> None:
        frame = load(day)
        total(train.map(tenant=each(tenants(count)), frame=frame))

    assert [node.name for node in nightly.nodes] == ["load", "tenants", "train", "total"]
    assert nightly.node("train").mapped == ("tenant",)
    assert nightly.node("total").upstream() == ("train",)
    assert nightly.params["count"].default == 3
    assert not nightly.params["count"].required
    rows = nightly.describe()
    assert rows[2]["inputs"] == {"tenant": "each of step tenants", "frame": "step load"}
    assert rows[2]["returns"] == "list[float]"


def test_a_type_mismatch_between_steps_is_an_error_naming_both() -> None:
    with pytest.raises(
        ValidationError,
        match=r"step count_rows takes counts: dict\[str, int\], "
        r"but step load is DataFrame",
    ):

        @pipeline
        def wrong(day: str) -> None:
            count_rows(load(day))  # type: ignore[arg-type]


def test_fanning_out_over_something_that_is_not_a_list_is_an_error() -> None:
    with pytest.raises(ValidationError, match="fans out over 'tenant', but parameter day"):

        @pipeline
        def wrong(day: str) -> None:
            train.map(tenant=each(day), frame=load(day))  # type: ignore[arg-type]


def test_a_missing_argument_is_an_error_before_anything_runs() -> None:
    with pytest.raises(ValidationError, match="step train is missing argument 'frame'"):

        @pipeline
        def wrong(day: str) -> None:
            train(day)  # type: ignore[call-arg]


def test_each_outside_map_and_map_without_each_are_errors() -> None:
    with pytest.raises(ValidationError, match=r"call train.map\(...\) instead"):

        @pipeline
        def plain(names: list[str]) -> None:
            train(tenant=each(names), frame=load("x"))

    with pytest.raises(ValidationError, match="needs at least one argument wrapped in each"):

        @pipeline
        def bare(day: str) -> None:
            train.map(tenant=day, frame=load(day))


def test_using_a_value_while_wiring_says_to_do_it_inside_a_step() -> None:
    with pytest.raises(ValidationError, match="cannot test the value of parameter day"):

        @pipeline
        def branchy(day: str) -> None:
            if day:
                load(day)


def test_a_cycle_is_an_error_naming_its_steps() -> None:
    nodes = (
        Node("a", total, {"scores": NodeInput("b")}),
        Node("b", total, {"scores": NodeInput("a")}),
    )
    with pytest.raises(ValidationError, match="has a cycle through steps a -> b -> a"):
        Pipeline("loop", {}, nodes)


def test_parameters_are_checked_and_parsed_before_a_run() -> None:
    @pipeline
    def nightly(day: str, count: int = 3, names: list[str] | None = None) -> None:
        tenants(count)

    assert nightly.bind({"day": "d", "count": "5"}) == {"day": "d", "count": 5, "names": None}
    assert nightly.bind({"day": "d", "names": "a,b"})["names"] == ["a", "b"]
    assert nightly.bind({"day": "d", "names": '["a"]'})["names"] == ["a"]
    with pytest.raises(ValidationError, match="needs parameter 'day'"):
        nightly.bind({})
    with pytest.raises(ValidationError, match="has no parameter 'dya'"):
        nightly.bind({"day": "d", "dya": "x"})
    with pytest.raises(ValidationError, match="parameter 'count' must be int, got 'many'"):
        nightly.bind({"day": "d", "count": "many"})


def test_a_step_must_be_typed() -> None:
    def untyped(x):  # type: ignore[no-untyped-def]
        return x

    with pytest.raises(ValidationError, match="parameter 'x' has no type annotation"):
        step(untyped)


def test_a_step_used_twice_gets_a_second_name() -> None:
    @pipeline
    def twice(day: str) -> None:
        load(day)
        load("other")

    assert [node.name for node in twice.nodes] == ["load", "load_2"]
    assert twice.params == {"day": Parameter("day", str)}
