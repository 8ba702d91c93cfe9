"""Recording a request's phases, and which finished requests become traces."""

import asyncio
import threading
from collections.abc import Sequence

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from shoal.errors import ValidationError
from shoal.observability import tracing
from shoal.observability.span_queue import SpanQueue
from shoal.observability.trace_export import TraceExporter, span_exporter
from shoal.observability.tracing import RequestTrace, span


def finished(
    status: int = 200,
    model: str | None = "acme/churn",
    headers: list[tuple[bytes, bytes]] | None = None,
) -> tuple[RequestTrace, int]:
    trace = tracing.begin("POST", "/v2/models/acme/churn/infer", headers or [], infer=True)
    with span("auth"):
        pass
    if model is not None:
        tracing.note_model("acme", "churn", 3)
        tracing.note_lease(False, 0.01, 0.008)
        tracing.note_predict(0.0002)
    with span("capture") as capture:
        capture.set("shoal.capture.bytes", 120)
    trace.model = model
    return trace, tracing.end(trace)


def exporter(rate: float, chance: float = 0.5) -> tuple[TraceExporter, InMemorySpanExporter]:
    memory = InMemorySpanExporter()
    queue = SpanQueue(memory, background=False)  # exports as it is offered
    return TraceExporter(queue, rate, chance=lambda: chance), memory


def test_phases_are_recorded_in_order_for_the_current_request_only() -> None:
    trace, ended = finished()
    names = [phase[0] for phase in trace.phases]
    assert names == ["auth", "model.load", "predict", "capture"]
    assert all(trace.started_ns <= start <= end <= ended for _, start, end, _, _ in trace.phases)
    assert trace.phases[1][3] == {"shoal.model.load_s": 0.008}
    assert trace.phases[3][3] == {"shoal.capture.bytes": 120}
    assert (trace.model, trace.version, trace.cache, trace.wait_s) == (
        "acme/churn",
        3,
        "miss",
        0.01,
    )
    assert tracing.current() is None
    with span("outside") as outside:  # no request: nothing recorded, nothing raised
        outside.set("ignored", 1)
    tracing.note_predict(0.1)
    assert tracing.current() is None


def test_a_phase_left_by_an_exception_is_marked_failed_and_the_exception_propagates() -> None:
    trace = tracing.begin("POST", "/x/infer", [], infer=True)
    with pytest.raises(ZeroDivisionError), span("capture"):
        raise ZeroDivisionError
    tracing.end(trace)
    assert trace.phases[0][0] == "capture"
    assert trace.phases[0][4] is True


def test_concurrent_requests_record_into_their_own_traces() -> None:
    async def request(name: str) -> RequestTrace:
        trace = tracing.begin("POST", f"/{name}/infer", [], infer=True)
        await asyncio.sleep(0)
        with span(name):
            await asyncio.sleep(0)
        tracing.end(trace)
        return trace

    async def both() -> list[RequestTrace]:
        return await asyncio.gather(request("one"), request("two"))

    one, two = asyncio.run(both())
    assert [phase[0] for phase in one.phases] == ["one"]
    assert [phase[0] for phase in two.phases] == ["two"]


@pytest.mark.parametrize(
    ("status", "model", "rate", "kept"),
    [
        (200, "acme/churn", 0.0, False),
        (200, "acme/churn", 1.0, True),
        (200, "acme/churn", 0.01, False),  # chance 0.5 >= 0.01
        (500, None, 0.0, True),  # server errors: always
        (503, "acme/churn", 0.0, True),
        (400, "acme/churn", 0.0, True),  # failed after reaching the model: always
        (401, None, 0.0, False),  # refused at the door: sampled like successes
        (404, None, 0.0, False),
        (429, None, 0.0, False),
        (429, None, 1.0, True),
    ],
)
def test_errors_are_always_kept_and_the_rest_is_sampled(
    status: int, model: str | None, rate: float, kept: bool
) -> None:
    traces, memory = exporter(rate)
    trace, ended = finished(status, model)
    assert (
        traces.offer(trace, status, ended, "/v2/models/{tenant}/{model}/infer") is not None
    ) is kept
    assert bool(memory.get_finished_spans()) is kept


def test_a_kept_request_becomes_a_server_span_with_its_phases_as_children() -> None:
    traces, memory = exporter(1.0)
    trace, ended = finished(200)
    trace_id = traces.offer(trace, 200, ended, "/v2/models/{tenant}/{model}/infer")
    spans: list[ReadableSpan] = list(memory.get_finished_spans())
    root = next(s for s in spans if s.kind is SpanKind.SERVER)
    children = [s for s in spans if s is not root]
    assert root.name == "POST /v2/models/{tenant}/{model}/infer"
    assert root.parent is None
    assert trace_id == f"{root.context.trace_id:032x}"
    assert [s.name for s in children] == ["auth", "model.load", "predict", "capture"]
    for child in children:
        assert child.parent is not None
        assert child.parent.span_id == root.context.span_id
        assert child.context.trace_id == root.context.trace_id
        assert root.start_time <= child.start_time <= child.end_time <= root.end_time
    attributes = dict(root.attributes or {})
    assert attributes["shoal.model"] == "acme/churn"
    assert attributes["http.response.status_code"] == 200
    assert attributes["shoal.cache"] == "miss"
    assert root.status.status_code is StatusCode.UNSET


def test_a_callers_traceparent_makes_the_trace_its_child() -> None:
    traces, memory = exporter(0.0)
    parent = b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    trace, ended = finished(500, headers=[(b"traceparent", parent)])
    traces.offer(trace, 500, ended, "/v2/models/{tenant}/{model}/infer")
    root = next(s for s in memory.get_finished_spans() if s.kind is SpanKind.SERVER)
    assert f"{root.context.trace_id:032x}" == "0af7651916cd43dd8448eb211c80319c"
    assert root.parent is not None
    assert f"{root.parent.span_id:016x}" == "b7ad6b7169203331"
    assert root.status.status_code is StatusCode.ERROR


def test_a_malformed_traceparent_starts_a_new_trace() -> None:
    traces, memory = exporter(1.0)
    trace, ended = finished(200, headers=[(b"traceparent", b"00-zz-not-a-trace")])
    traces.offer(trace, 200, ended, "/x")
    root = next(s for s in memory.get_finished_spans() if s.kind is SpanKind.SERVER)
    assert root.parent is None


def test_bad_sample_rates_and_exporter_names_are_refused_by_value() -> None:
    with pytest.raises(ValidationError, match=r"1\.5"):
        TraceExporter(SpanQueue(InMemorySpanExporter(), background=False), 1.5)
    with pytest.raises(ValidationError, match="zipkin"):
        span_exporter("zipkin")
    assert span_exporter("none") is None


def test_a_full_export_queue_drops_whole_traces_and_counts_them() -> None:
    release = threading.Event()

    class Stuck(InMemorySpanExporter):
        def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
            release.wait(5)
            return super().export(spans)

    memory = Stuck()
    queue = SpanQueue(memory, max_spans=12, batch=5, delay_s=0.01)
    traces = TraceExporter(queue, 1.0)
    offered = []
    for _ in range(10):  # five spans each: root, auth, model.load, predict, capture
        trace, ended = finished()
        offered.append(traces.offer(trace, 200, ended, "/x"))
    release.set()
    traces.shutdown()
    exported = [trace_id for trace_id in offered if trace_id is not None]
    assert queue.dropped == len(offered) - len(exported) > 0
    roots_exported = {f"{s.context.trace_id:032x}" for s in memory.get_finished_spans()}
    assert roots_exported == set(exported)
    assert len(memory.get_finished_spans()) == 5 * len(exported)  # no trace with holes
    families = {family.metric.name: family for family in traces.families()}
    assert families["shoal_traces_dropped"].metric.samples[0].value == queue.dropped
