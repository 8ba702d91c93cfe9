"""``SpanQueue``: kept traces wait here and are exported in batches on one background thread.

The SDK's ``BatchSpanProcessor`` does the same but, once its queue is full, logs a warning for
every span it drops — under load at a 100 % sample rate that is thousands of log records a
second, from the event loop. Here a full queue drops whole traces (a trace with holes is worse
than none), counts them (``dropped``, reported as ``shoal_traces_dropped_total``) and logs once.
"""

from __future__ import annotations

import collections
import logging
import threading
from collections.abc import Sequence

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter

logger = logging.getLogger(__name__)


class SpanQueue:
    """At most ``max_spans`` spans waiting; exported ``batch`` at a time at least every
    ``delay_s`` seconds, or as soon as a batch is full."""

    def __init__(
        self,
        exporter: SpanExporter,
        *,
        max_spans: int = 8192,
        batch: int = 512,
        delay_s: float = 1.0,
        background: bool = True,
    ) -> None:
        self._exporter = exporter
        self._max_spans = max_spans
        self._batch = batch
        self._delay_s = delay_s
        self._spans: collections.deque[ReadableSpan] = collections.deque()
        self._wake = threading.Event()
        self._stopping = False
        self._export_lock = threading.Lock()
        self.dropped = 0
        self._warned = False
        self._thread: threading.Thread | None = None
        if background:
            self._thread = threading.Thread(target=self._run, name="shoal-traces", daemon=True)
            self._thread.start()

    def offer(self, spans: Sequence[ReadableSpan]) -> bool:
        """Queue one trace's spans; False (and counted) when there is no room for all of them."""
        if self._stopping or len(self._spans) + len(spans) > self._max_spans:
            self.dropped += 1
            if not self._warned:
                self._warned = True
                logger.warning(
                    "trace export is falling behind: traces are being dropped (counted in "
                    "shoal_traces_dropped_total); lower the sample rate or check the collector"
                )
            return False
        self._spans.extend(spans)
        if len(self._spans) >= self._batch:
            self._wake.set()
        if self._thread is None:
            self.flush()
        return True

    def _run(self) -> None:
        while not self._stopping:
            self._wake.wait(self._delay_s)
            self._wake.clear()
            self.flush()

    def flush(self) -> None:
        """Export everything queued now (on the calling thread)."""
        with self._export_lock:
            while self._spans:
                count = min(self._batch, len(self._spans))
                batch = [self._spans.popleft() for _ in range(count)]
                try:
                    self._exporter.export(batch)
                except Exception:  # a broken collector must not break serving
                    logger.warning("exporting %d spans failed", count, exc_info=True)

    def shutdown(self) -> None:
        """Export what is queued, then stop the thread and the exporter."""
        self._stopping = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        self.flush()
        self._exporter.shutdown()
