"""Per-request span recording: what a request did and when, kept as timestamps until it ends.

Every request the server handles gets a ``RequestTrace``. Its phases (auth, usage plan, model
load, predict, capture) append ``(name, start, end, attributes, failed)`` tuples of
``perf_counter_ns`` timestamps: a few hundred nanoseconds each, no OpenTelemetry objects. Only
when the request has ended does ``trace_export.TraceExporter`` decide whether to keep it (the
sample rate, or an error) and build spans from the timestamps. Recording every request and
deciding at the end is what keeps errors at any sample rate; at 0 % the cost is the timestamps.

Code below the HTTP edge records into the request it runs for without being handed it (a
context variable, which each request's task has its own copy of)::

    with span("capture") as capture:
        capture.set("shoal.capture.bytes", size)
        queue.put_nowait(record)

Outside a request (batch scoring, the Python client) every call here is a cheap no-op.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from contextvars import ContextVar, Token
from types import TracebackType

AttributeValue = str | int | float | bool
Attributes = dict[str, AttributeValue]
Phase = tuple[str, int, int, Attributes | None, bool]
"""One recorded span: name, start and end (``perf_counter_ns``), attributes, whether it failed."""

Headers = Sequence[tuple[bytes, bytes]]

now_ns = time.perf_counter_ns
"""The clock of every phase timestamp."""


class RequestTrace:
    """What one request did: its phases, and what serving learnt about it.

    ``model`` is set only once the reference resolved to a registered version, so a request
    for a model that does not exist never names one (it cannot grow per-model series).
    """

    __slots__ = (
        "cache",
        "headers",
        "infer",
        "method",
        "model",
        "model_s",
        "path",
        "phases",
        "started_ns",
        "token",
        "version",
        "wait_s",
        "wall_ns",
    )

    def __init__(self, method: str, path: str, headers: Headers, *, infer: bool) -> None:
        self.method = method
        self.path = path
        self.headers = headers
        self.infer = infer
        self.phases: list[Phase] = []
        self.model: str | None = None
        self.version: int | None = None
        self.cache: str | None = None
        self.wait_s = 0.0
        self.model_s: float | None = None
        self.token: Token[RequestTrace | None] | None = None
        self.wall_ns = time.time_ns()
        self.started_ns = now_ns()

    def to_epoch_ns(self, perf_ns: int) -> int:
        """A phase timestamp on the wall clock (what spans carry)."""
        return self.wall_ns + (perf_ns - self.started_ns)

    def header(self, name: bytes) -> str | None:
        """A request header (lower-case ``name``), looked up only when needed."""
        for key, value in self.headers:
            if key == name:
                return value.decode("latin-1")
        return None


_current: ContextVar[RequestTrace | None] = ContextVar("shoal_request_trace", default=None)


def begin(method: str, path: str, headers: Headers, *, infer: bool) -> RequestTrace:
    """Start recording a request; the phases recorded until ``end`` belong to it."""
    trace = RequestTrace(method, path, headers, infer=infer)
    trace.token = _current.set(trace)
    return trace


def end(trace: RequestTrace) -> int:
    """Stop recording ``trace``; returns its end timestamp."""
    ended = now_ns()
    if trace.token is not None:
        _current.reset(trace.token)
        trace.token = None
    return ended


current: Callable[[], RequestTrace | None] = _current.get
"""The request being served in this task, if any (the context variable's own ``get``: a hot
path that records its phases inline pays no Python call for it)."""


class span:  # noqa: N801 (used like a function: ``with span("capture"):``)
    """Records one phase of the current request; a no-op outside a request.

    ``set`` adds an attribute. An exception leaving the block marks the phase failed (and is
    not swallowed).
    """

    __slots__ = ("_attributes", "_name", "_started", "_trace")

    def __init__(self, name: str) -> None:
        self._name = name
        self._trace: RequestTrace | None = None
        self._attributes: Attributes | None = None
        self._started = 0

    def __enter__(self) -> span:
        self._trace = _current.get()
        if self._trace is not None:
            self._started = now_ns()
        return self

    def set(self, key: str, value: AttributeValue) -> None:
        if self._trace is None:
            return
        if self._attributes is None:
            self._attributes = {}
        self._attributes[key] = value

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._trace is not None:
            phase = (self._name, self._started, now_ns(), self._attributes, exc_type is not None)
            self._trace.phases.append(phase)


def record(name: str, started_ns: int, attributes: Attributes | None = None) -> None:
    """Record a phase that began at ``started_ns`` (``now_ns()``) and ends now."""
    trace = _current.get()
    if trace is not None:
        trace.phases.append((name, started_ns, now_ns(), attributes, False))


# -- what serving tells the request (``InferenceService.infer``) ------------------------------


def note_model(tenant: str, model: str, version: int) -> None:
    """The request resolved to a registered version of ``tenant/model``."""
    trace = _current.get()
    if trace is not None:
        trace.model = f"{tenant}/{model}"
        trace.version = version


def note_lease(hit: bool, wait_s: float, load_s: float) -> None:
    """The model was resident (``hit``), or the request waited ``wait_s`` for its load.

    A wait is recorded as the ``model.load`` phase, ending now; ``load_s`` is how long the load
    it waited on took (it may have started before this request arrived).
    """
    trace = _current.get()
    if trace is None:
        return
    if hit:
        trace.cache = "hit"
        return
    trace.cache = "miss"
    trace.wait_s = wait_s
    ended = now_ns()
    attributes: Attributes = {"shoal.model.load_s": load_s}
    started = max(ended - int(wait_s * 1e9), trace.started_ns)
    trace.phases.append(("model.load", started, ended, attributes, False))


def note_predict(seconds: float) -> None:
    """The model predicted in ``seconds`` (its own time, measured where it ran), ending now."""
    trace = _current.get()
    if trace is not None:
        trace.model_s = seconds
        ended = now_ns()
        started = max(ended - int(seconds * 1e9), trace.started_ns)
        trace.phases.append(("predict", started, ended, None, False))
