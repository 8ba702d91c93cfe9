"""Structured access logs: one JSON line per request, without keys or payloads.

An inference line::

    {"time":"2026-11-22T10:15:02.123Z","request_id":"5f0c…","method":"POST",
     "route":"/v2/models/{tenant}/{model}/infer","tenant":"acme","model":"acme/churn",
     "version":3,"status":200,"latency_ms":1.84,"model_ms":0.02,"cache":"hit"}

``tenant`` and ``model`` are what the request asked for (from its path, so a 401 or 404 still
says which model was asked for); ``version`` is set once a version served it. Other requests log
``method``, ``route`` (the route's template, e.g. ``/v2/models/{tenant}/{model}``), ``status`` and
``latency_ms``. ``request_id`` is the caller's ``X-Request-Id`` when it is a plain token of at
most 128 characters, else a new one (a random prefix per process and a counter); ``trace_id``
is there when the request was exported as a trace. Never logged: headers (so no API key), query
strings, bodies.

Lines are serialised with orjson into a buffer that is written out every second (``flush``) and
when it passes 64 KiB, so logging costs no system call per request (about 4 µs a line).
"""

from __future__ import annotations

import itertools
import logging
import re
import secrets
import time
from typing import BinaryIO

import orjson
from prometheus_client.core import CounterMetricFamily

from shoal.observability.metrics import Family
from shoal.observability.tracing import RequestTrace

logger = logging.getLogger(__name__)

MAX_BUFFER = 64 * 1024
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_INFER_PATH = re.compile(r"/v2/models/([^/]{1,128})/([^/]{1,128})(?:/versions/[^/]+)?/infer")


class _Clock:
    """ISO 8601 UTC timestamps, the seconds part formatted once per second."""

    __slots__ = ("_prefix", "_second")

    def __init__(self) -> None:
        self._second = -1
        self._prefix = ""

    def format(self, wall_ns: int) -> str:
        second, rest = divmod(wall_ns, 1_000_000_000)
        if second != self._second:
            self._second = second
            self._prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        return f"{self._prefix}.{rest // 1_000_000:03d}Z"


class AccessLog:
    """Writes access lines to ``stream`` (a file opened for appending, or stderr's buffer)."""

    def __init__(self, stream: BinaryIO, *, owns_stream: bool = True) -> None:
        self._stream = stream
        self._owns_stream = owns_stream
        self._buffer: list[bytes] = []
        self._size = 0
        self._clock = _Clock()
        self._id_prefix = secrets.token_hex(6)
        self.lost = 0
        """Lines that could not be written."""
        self._warned = False
        self._ids = itertools.count(1)

    def write(
        self,
        trace: RequestTrace,
        status: int,
        latency_s: float,
        route: str,
        trace_id: str | None = None,
    ) -> None:
        line: dict[str, object] = {
            "time": self._clock.format(trace.wall_ns),
            "request_id": self._request_id(trace),
            "method": trace.method,
            "route": route,
        }
        if trace.infer:
            match = _INFER_PATH.fullmatch(trace.path)
            if match is not None:
                line["tenant"] = match[1]
                line["model"] = f"{match[1]}/{match[2]}"
            line["version"] = trace.version
        line["status"] = status
        line["latency_ms"] = round(latency_s * 1000, 3)
        if trace.infer:
            line["model_ms"] = None if trace.model_s is None else round(trace.model_s * 1000, 3)
            line["cache"] = trace.cache
        if trace_id is not None:
            line["trace_id"] = trace_id
        encoded = orjson.dumps(line, option=orjson.OPT_APPEND_NEWLINE)
        self._buffer.append(encoded)
        self._size += len(encoded)
        if self._size >= MAX_BUFFER:
            self.flush()

    def _request_id(self, trace: RequestTrace) -> str:
        given = trace.header(b"x-request-id")
        if given is not None and _REQUEST_ID.fullmatch(given):
            return given
        return f"{self._id_prefix}{next(self._ids):06x}"

    def families(self) -> list[Family]:
        """Lines lost to write errors (a metrics source)."""
        lost = CounterMetricFamily(
            "shoal_access_log_lost_lines", "Access log lines that could not be written."
        )
        lost.add_metric([], self.lost)
        return [Family(lost)]

    def flush(self) -> None:
        """Write out the buffered lines."""
        if not self._buffer:
            return
        chunk = b"".join(self._buffer)
        self._buffer.clear()
        self._size = 0
        try:
            self._stream.write(chunk)
            self._stream.flush()
        except (OSError, ValueError) as exc:  # a full disk must not fail requests
            self.lost += chunk.count(b"\n")
            if not self._warned:
                self._warned = True
                logger.warning("cannot write the access log (lines are being lost): %r", exc)

    def close(self) -> None:
        self.flush()
        if self._owns_stream:
            self._stream.close()
