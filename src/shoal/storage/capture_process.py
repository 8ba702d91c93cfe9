"""``CaptureProcess``: a ``CaptureSink`` that writes capture files in a child process.

Why a process: the file work (columns, Parquet, compression) needs the interpreter lock for much
of its time, and on a thread beside a busy event loop it costs the loop about twice its own CPU
in lock hand-overs (measured: 4.5 µs of CPU per record beside the loop against 1.6 µs alone;
capture at 100 % cost 15-18 % of throughput so, 9 % this way). The server's writer thread still
drains the queue and groups records by partition; this sink only turns a file's records into
plain tuples, ``marshal``s them in chunks of ``CHUNK_ROWS`` (C, no per-field Python) and writes
them down a pipe, which lets go of the lock while the child works.

The wire, both ways length-prefixed ``marshal`` frames (``marshal`` carries only plain data: the
child is our own and nothing outside the two processes writes to the pipe):

- parent → child, once: ``{"url", "options", "format"}`` (storage options, secrets included,
  travel here and never on the command line or in the environment);
- parent → child, per file: ``(tenant, model, hour as epoch seconds, rows)``, then the rows in
  frames of up to ``CHUNK_ROWS`` tuples;
- child → parent, per file: ``(True, path)`` or ``(False, message)``.

A child that dies, hangs past ``reply_timeout_s`` or cannot start fails the file at hand (the
writer counts its records as failed) and is started afresh for a later one, no sooner than a
back-off that doubles from ``RESTART_BACKOFF_S`` up to ``MAX_RESTART_BACKOFF_S``. The child
exits when its stdin closes, so it never outlives the server, and it sits in a session of its
own: Ctrl-C in a terminal stops the server, which then flushes through a child still alive.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import marshal
import operator
import os
import select
import struct
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from shoal.errors import ArtifactError
from shoal.observability.capture import (
    CHUNK_ROWS,
    CapturePartition,
    CaptureRecord,
    yield_to_requests,
)
from shoal.storage.capture_writer import CaptureFiles, CaptureFormat, TensorJson

logger = logging.getLogger(__name__)

RESTART_BACKOFF_S = 1.0
MAX_RESTART_BACKOFF_S = 30.0
_LENGTH = struct.Struct(">I")
_REQUEST, _RESPONSE = operator.itemgetter(5), operator.itemgetter(6)  # CaptureRecord fields

Row = tuple[Any, ...]
"""A ``CaptureRecord`` as a plain tuple, its bodies as V2 JSON bytes."""


class CaptureProcess:
    """Writes capture files like ``CaptureFiles(url, storage_options, file_format)``, in a
    child process started on the first write. Called from one thread (the capture writer)."""

    def __init__(
        self,
        url: str,
        storage_options: Mapping[str, object] | None = None,
        file_format: CaptureFormat = CaptureFormat.PARQUET,
        *,
        reply_timeout_s: float = 300.0,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        self._config = {
            "url": url,
            "options": dict(storage_options or {}),
            "format": CaptureFormat(file_format).value,
        }
        self._reply_timeout_s = reply_timeout_s
        self._timer = timer
        self._child: subprocess.Popen[bytes] | None = None
        self._child_of = -1  # the pid that started it: a forked server starts its own
        self._retry_at = 0.0
        self._backoff_s = RESTART_BACKOFF_S
        self._json = TensorJson()

    @property
    def pid(self) -> int | None:
        """The child's process id, while one runs."""
        return self._child.pid if self._child is not None else None

    def write(self, partition: CapturePartition, records: Sequence[CaptureRecord]) -> str:
        """Write ``records`` as one file of ``partition`` in the child; returns its path."""
        child = self._running_child()
        rows = self._rows(records)
        stdin, stdout = child.stdin, child.stdout
        assert stdin is not None
        assert stdout is not None
        hour = int(partition.hour.timestamp())
        try:
            _send(stdin, (partition.tenant, partition.model, hour, len(rows)))
            for start in range(0, len(rows), CHUNK_ROWS):
                _send(stdin, rows[start : start + CHUNK_ROWS])
                yield_to_requests()
            stdin.flush()
            reply = self._reply(stdout)
        except (OSError, ValueError, EOFError, TimeoutError) as exc:
            self._lost(child, exc)
            raise ArtifactError(f"the capture writer process failed: {exc}") from exc
        self._backoff_s = RESTART_BACKOFF_S
        ok, detail = reply
        if not ok:
            raise ArtifactError(f"the capture writer process could not write a file: {detail}")
        return str(detail)

    def close(self, timeout_s: float = 10.0) -> None:
        """End the child: close its stdin (it exits at the end of input), kill it if it lingers."""
        child, self._child = self._child, None
        if child is not None and self._child_of == os.getpid():
            _end(child, timeout_s)

    # -- the child's lifetime ---------------------------------------------------------------

    def _running_child(self) -> subprocess.Popen[bytes]:
        child = self._child
        if child is not None and self._child_of == os.getpid():
            if child.poll() is None:
                return child
            self._lost(child, RuntimeError(f"exited with status {child.returncode}"))
        self._child = None  # a forked server leaves its parent's child alone
        now = self._timer()
        if now < self._retry_at:
            raise ArtifactError(
                f"the capture writer process is down; retrying in {self._retry_at - now:.0f} s"
            )
        try:
            child = subprocess.Popen(  # noqa: S603 - this interpreter, this module
                _child_command(),
                env=_child_environment(),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                close_fds=True,
                start_new_session=True,
            )
            assert child.stdin is not None
            _send(child.stdin, self._config)
            child.stdin.flush()
        except OSError as exc:
            self._back_off()
            raise ArtifactError(f"could not start the capture writer process: {exc}") from exc
        self._child, self._child_of = child, os.getpid()
        return child

    def _lost(self, child: subprocess.Popen[bytes], exc: BaseException) -> None:
        logger.error("the capture writer process (pid %d) is lost: %r", child.pid, exc)
        _end(child, grace_s=0.0)
        if self._child is child:
            self._child = None
        self._back_off()

    def _back_off(self) -> None:
        self._retry_at = self._timer() + self._backoff_s
        self._backoff_s = min(self._backoff_s * 2, MAX_RESTART_BACKOFF_S)

    def _reply(self, stdout: IO[bytes]) -> tuple[bool, str]:
        ready, _, _ = select.select([stdout], [], [], self._reply_timeout_s)
        if not ready:
            raise TimeoutError(f"no reply within {self._reply_timeout_s:.0f} s")
        reply = _receive(stdout)
        if not (isinstance(reply, tuple) and len(reply) == 2 and isinstance(reply[0], bool)):
            raise ValueError(f"a malformed reply: {reply!r}"[:200])
        return reply[0], str(reply[1])

    # -- records as plain data ---------------------------------------------------------------

    def _rows(self, records: Sequence[CaptureRecord]) -> list[Row]:
        """The records as plain tuples (``marshal`` takes no named tuples, and no numpy)."""
        rows: list[Row] = list(map(tuple, records))  # in C, like the checks below
        bodies = itertools.chain(map(_REQUEST, records), map(_RESPONSE, records))
        if all(map(isinstance, bodies, itertools.repeat(bytes))):
            return rows  # the usual case: JSON bodies as sent and returned
        for n, row in enumerate(rows):
            request = self._json.document("inputs", row[5])
            response = self._json.document("outputs", row[6])
            rows[n] = (*row[:5], request, response, row[7])
        return rows


def _end(child: subprocess.Popen[bytes], grace_s: float) -> None:
    """Stop ``child``: with ``grace_s``, close its input and wait that long for it to exit; then
    kill it if it still runs (at once without: a hung child may not read what is unflushed)."""
    if grace_s > 0 and child.stdin is not None:
        try:
            child.stdin.close()
            child.wait(grace_s)
        except (OSError, subprocess.TimeoutExpired):
            pass  # killed below
    if child.poll() is None:
        child.kill()
    child.wait()
    for stream in (child.stdin, child.stdout):
        if stream is not None:
            with contextlib.suppress(OSError):  # a broken pipe with unflushed bytes
                stream.close()


def _child_command() -> list[str]:
    return [sys.executable, "-m", __name__]


def _child_environment() -> dict[str, str]:
    """This environment, with the folder that holds this ``shoal`` first on the import path."""
    here = str(Path(__file__).resolve().parents[2])
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": here if not path else os.pathsep.join((here, path))}


def _send(stream: IO[bytes], message: Any) -> None:
    data = marshal.dumps(message)
    stream.write(_LENGTH.pack(len(data)))
    stream.write(data)


def _receive(stream: IO[bytes]) -> object:
    head = stream.read(_LENGTH.size)
    if len(head) < _LENGTH.size:
        raise EOFError("the other end closed the pipe")
    (length,) = _LENGTH.unpack(head)
    data = stream.read(length)
    if len(data) < length:
        raise EOFError("the other end closed the pipe mid-frame")
    return marshal.loads(data)  # noqa: S302 - a pipe between this server and its own child


# -- the child ------------------------------------------------------------------------------


def serve(source: IO[bytes], replies: IO[bytes]) -> None:
    """The child's loop: one config frame, then one file per request until end of input."""
    config = _receive(source)
    files: CaptureFiles | None = None
    failure = ""
    try:
        assert isinstance(config, dict)
        files = CaptureFiles(config["url"], config["options"], CaptureFormat(config["format"]))
    except Exception as exc:  # every file is refused with the reason; the parent logs it
        failure = f"cannot open the capture store: {exc!r}"
    while True:
        try:
            head = _receive(source)
        except EOFError:
            return
        assert isinstance(head, tuple)
        tenant, model, hour, count = head
        rows: list[Row] = []
        while len(rows) < count:
            chunk = _receive(source)
            assert isinstance(chunk, list)
            rows += chunk
        reply: tuple[bool, str]
        if files is None:
            reply = (False, failure)
        else:
            partition = CapturePartition(tenant, model, datetime.fromtimestamp(hour, UTC))
            try:
                reply = (True, files.write(partition, [CaptureRecord(*row) for row in rows]))
            except Exception as exc:  # one bad file must not end the writer
                reply = (False, repr(exc))
        _send(replies, reply)
        replies.flush()


def main() -> None:
    """The child's entry point. Replies go out on what was stdout; stdout itself is pointed at
    stderr, so a stray print from a library cannot corrupt a frame."""
    replies = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    serve(sys.stdin.buffer, replies)


if __name__ == "__main__":
    main()
