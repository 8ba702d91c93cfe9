"""Captures what a running item prints and logs, per thread, so each item keeps its own logs.

``sys.stdout``/``sys.stderr`` are wrapped once by a router that writes to the buffer of the
thread's running item (and nowhere else) or, outside an item, to the original stream; a root
logging handler does the same for log records. Each item's text is capped (head and tail kept).
"""

from __future__ import annotations

import contextlib
import io
import logging
import sys
import threading
from collections.abc import Iterator
from typing import TextIO

LIMIT = 64 * 1024
"""Characters of captured text kept per item."""

_local = threading.local()
_install_lock = threading.Lock()


class Capture:
    """The text one item wrote, capped at ``LIMIT`` characters (the head and the tail)."""

    def __init__(self) -> None:
        self._parts: list[str] = []
        self._size = 0
        self._tail: list[str] = []
        self._dropped = 0

    def write(self, text: str) -> None:
        if self._size < LIMIT // 2:
            self._parts.append(text)
            self._size += len(text)
            return
        self._tail.append(text)
        while len(self._tail) > 1 and sum(map(len, self._tail)) > LIMIT // 2:
            self._dropped += len(self._tail.pop(0))

    def text(self) -> str:
        middle = f"\n[... {self._dropped} characters dropped ...]\n" if self._dropped else ""
        return "".join(self._parts) + middle + "".join(self._tail)


class _Router(io.TextIOBase):
    def __init__(self, original: TextIO) -> None:
        self._original = original

    def write(self, text: str) -> int:
        capture: Capture | None = getattr(_local, "capture", None)
        if capture is None:
            return self._original.write(text)
        capture.write(text)
        return len(text)

    def flush(self) -> None:
        self._original.flush()

    def fileno(self) -> int:
        return self._original.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self._original, "encoding", "utf-8")

    def isatty(self) -> bool:
        return self._original.isatty()


class _Handler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        capture: Capture | None = getattr(_local, "capture", None)
        if capture is not None:
            capture.write(self.format(record) + "\n")


class _Installation:
    """How many executors asked for capture, and what to restore when the last one is done."""

    def __init__(self) -> None:
        self.count = 0
        self.saved: tuple[TextIO, TextIO, logging.Handler] | None = None


_installation = _Installation()


def install() -> None:
    """Route stdout, stderr and logging through the per-item capture until ``uninstall``."""
    with _install_lock:
        _installation.count += 1
        if _installation.count > 1:
            return
        handler = _Handler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        _installation.saved = (sys.stdout, sys.stderr, handler)
        sys.stdout = _Router(sys.stdout)
        sys.stderr = _Router(sys.stderr)
        logging.getLogger().addHandler(handler)


def uninstall() -> None:
    """Undo one ``install`` (the last one puts the original streams back)."""
    with _install_lock:
        _installation.count -= 1
        if _installation.count > 0 or _installation.saved is None:
            return
        stdout, stderr, handler = _installation.saved
        if isinstance(sys.stdout, _Router):
            sys.stdout = stdout
        if isinstance(sys.stderr, _Router):
            sys.stderr = stderr
        logging.getLogger().removeHandler(handler)
        _installation.saved = None


@contextlib.contextmanager
def capturing() -> Iterator[Capture]:
    """Collect this thread's output while the block runs."""
    capture = Capture()
    previous = getattr(_local, "capture", None)
    _local.capture = capture
    try:
        yield capture
    finally:
        _local.capture = previous
