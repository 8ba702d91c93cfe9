"""Access log lines: the fields of a request, never its key or payload."""

import io
import re

import orjson

from shoal.observability.access_log import MAX_BUFFER, AccessLog
from shoal.observability.tracing import RequestTrace

SECRET = "shoal_0123456789abcdef_" + "s" * 43


def infer_trace(headers: list[tuple[bytes, bytes]] | None = None) -> RequestTrace:
    trace = RequestTrace(
        "POST",
        "/v2/models/acme/churn/versions/production/infer",
        [(b"authorization", f"Bearer {SECRET}".encode()), *(headers or [])],
        infer=True,
    )
    trace.model, trace.version, trace.cache, trace.model_s = "acme/churn", 3, "miss", 0.00042
    return trace


def lines(stream: io.BytesIO) -> list[dict[str, object]]:
    return [orjson.loads(line) for line in stream.getvalue().splitlines()]


def test_an_inference_line_has_the_request_tenant_model_version_status_latency_and_tier() -> None:
    stream = io.BytesIO()
    log = AccessLog(stream)
    log.write(infer_trace(), 200, 0.0123456, "/v2/models/{tenant}/{model}/infer", "ab" * 16)
    log.flush()
    [line] = lines(stream)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", str(line.pop("time")))
    assert re.fullmatch(r"[0-9a-f]{18,}", str(line.pop("request_id")))
    assert line == {
        "method": "POST",
        "route": "/v2/models/{tenant}/{model}/infer",
        "tenant": "acme",
        "model": "acme/churn",
        "version": 3,
        "status": 200,
        "latency_ms": 12.346,
        "model_ms": 0.42,
        "cache": "miss",
        "trace_id": "ab" * 16,
    }


def test_the_key_and_the_payload_never_reach_the_log() -> None:
    stream = io.BytesIO()
    log = AccessLog(stream)
    log.write(infer_trace([(b"x-api-key", SECRET.encode())]), 401, 0.001, "/x")
    log.flush()
    assert SECRET.encode() not in stream.getvalue()
    assert b"Bearer" not in stream.getvalue()


def test_a_callers_request_id_is_kept_only_when_it_is_a_plain_token() -> None:
    stream = io.BytesIO()
    log = AccessLog(stream)
    log.write(infer_trace([(b"x-request-id", b"req-42.a:b")]), 200, 0.001, "/x")
    log.write(infer_trace([(b"x-request-id", b'evil"\n{"status":200}')]), 200, 0.001, "/x")
    log.flush()
    first, second = lines(stream)
    assert first["request_id"] == "req-42.a:b"
    assert second["request_id"] != first["request_id"]
    assert re.fullmatch(r"[0-9a-f]{18,}", str(second["request_id"]))


def test_other_requests_log_their_route_without_model_fields() -> None:
    stream = io.BytesIO()
    log = AccessLog(stream)
    trace = RequestTrace("GET", "/v2/models/acme/churn", [], infer=False)
    log.write(trace, 404, 0.0005, "/v2/models/{tenant}/{model}")
    log.flush()
    [line] = lines(stream)
    assert line["route"] == "/v2/models/{tenant}/{model}"
    assert "model" not in line
    assert "cache" not in line


def test_lines_wait_in_the_buffer_until_a_flush_or_until_it_fills() -> None:
    stream = io.BytesIO()
    log = AccessLog(stream)
    log.write(infer_trace(), 200, 0.001, "/x")
    assert stream.getvalue() == b""
    while stream.getvalue() == b"":
        log.write(infer_trace(), 200, 0.001, "/x")
    assert MAX_BUFFER <= len(stream.getvalue()) < 2 * MAX_BUFFER
    assert stream.getvalue().endswith(b"\n")


def test_a_stream_that_cannot_be_written_loses_lines_but_never_raises() -> None:
    stream = io.BytesIO()
    log = AccessLog(stream)
    stream.close()  # as good as a full disk
    log.write(infer_trace(), 200, 0.001, "/x")
    log.write(infer_trace(), 200, 0.001, "/x")
    log.flush()
    assert log.lost == 2
    [family] = log.families()
    assert family.metric.samples[0].value == 2
